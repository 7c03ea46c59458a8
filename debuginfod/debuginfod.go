// Package debuginfod fetches debug files by GNU build-id from debuginfod
// servers, as elfutils' client does (debuginfod-find, gdb, systemtap):
// the servers are $DEBUGINFOD_URLS (space-separated), a file is
// SERVER/buildid/HEX/debuginfo (or .../executable), and it is kept in the
// same cache elfutils uses — $DEBUGINFOD_CACHE_PATH, else
// $XDG_CACHE_HOME/debuginfod_client, else ~/.cache/debuginfod_client — as
// CACHE/HEX/debuginfo, so a file fetched by either tool serves both.
//
//	c := debuginfod.FromEnv()           // nil when DEBUGINFOD_URLS is unset
//	path, err := c.Fetch(ctx, buildID, debuginfod.Debuginfo, "vmlinux-6.1.0-50-cloud-amd64")
//
// What is downloaded is checked to carry the build-id asked for before it
// enters the cache. Fetch honours ctx (Ctrl-C), and writes a progress line
// (size, rate) to Progress when it is set (a terminal).
package debuginfod

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Kind is what to fetch for a build-id.
type Kind string

const (
	Debuginfo  Kind = "debuginfo"  // the file with DWARF (a -dbg vmlinux or .ko)
	Executable Kind = "executable" // the stripped binary
)

// ErrNotFound is returned when no server has the file.
var ErrNotFound = errors.New("not found on any debuginfod server")

// Client fetches from a list of servers into a cache directory.
type Client struct {
	URLs  []string // server base URLs, asked in order
	Cache string   // the cache directory (elfutils' layout)
	// HTTP is the client used; nil: a client whose connections time out
	// after 30 s without an answer (the body may take longer).
	HTTP *http.Client
	// Progress, when set, receives a progress line that rewrites itself
	// ("\r"): set it to a terminal, never to piped output.
	Progress io.Writer
	// MissTTL is how long a recorded miss (elfutils' empty cache file)
	// stands before the servers are asked again; 0: 10 minutes, like
	// elfutils' cache_miss_s.
	MissTTL time.Duration
}

// FromEnv returns a client for $DEBUGINFOD_URLS and the elfutils cache, or
// nil when DEBUGINFOD_URLS names no server.
func FromEnv() *Client {
	urls := strings.Fields(os.Getenv("DEBUGINFOD_URLS"))
	if len(urls) == 0 {
		return nil
	}
	return &Client{URLs: urls, Cache: DefaultCache()}
}

// DefaultCache is elfutils' cache directory (debuginfod/debuginfod-client.c):
// $DEBUGINFOD_CACHE_PATH, else $XDG_CACHE_HOME/debuginfod_client, else
// $HOME/.cache/debuginfod_client; a legacy ~/.debuginfod_client_cache that
// exists wins over the last two.
func DefaultCache() string {
	if p := os.Getenv("DEBUGINFOD_CACHE_PATH"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	if home != "" {
		legacy := filepath.Join(home, ".debuginfod_client_cache")
		if st, err := os.Stat(legacy); err == nil && st.IsDir() {
			return legacy
		}
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "debuginfod_client")
	}
	return filepath.Join(home, ".cache", "debuginfod_client")
}

// NormalizeBuildID returns id as lower-case hex, or an error when it is
// not a plausible GNU build-id (an even number of hex digits, 8 to 64 bytes,
// not all zero).
func NormalizeBuildID(id string) (string, error) {
	id = strings.ToLower(strings.TrimSpace(id))
	b, err := hex.DecodeString(id)
	if err != nil || len(b) < 8 || len(b) > 64 || strings.Trim(id, "0") == "" {
		return "", fmt.Errorf("%q is not a build-id", id)
	}
	return id, nil
}

// CachePath is where the file of a build-id and kind is (or would be) in
// the cache.
func (c *Client) CachePath(buildID string, kind Kind) string {
	return filepath.Join(c.Cache, buildID, string(kind))
}

// Fetch returns the path of the file of kind for buildID: from the cache,
// else downloaded from the first server that has it. name says what it is
// in messages ("vmlinux-6.1.0-50-cloud-amd64").
func (c *Client) Fetch(ctx context.Context, buildID string, kind Kind, name string) (string, error) {
	id, err := NormalizeBuildID(buildID)
	if err != nil {
		return "", err
	}
	if name == "" {
		name = id
	}
	target := c.CachePath(id, kind)
	if st, err := os.Stat(target); err == nil {
		if st.Size() > 0 {
			if got, err := FileBuildID(target); err == nil && got == id {
				return target, nil
			}
			// Damaged or foreign: fetch again.
			os.Remove(target)
		} else {
			// An elfutils miss record: an empty file.
			ttl := c.MissTTL
			if ttl == 0 {
				ttl = 10 * time.Minute
			}
			if time.Since(st.ModTime()) < ttl {
				return "", fmt.Errorf("%s (build-id %s): %w (a miss recorded in %s less than %v ago)", name, id, ErrNotFound, target, ttl)
			}
			os.Remove(target)
		}
	}
	// elfutils makes the directories 0700 and the files 0400.
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return "", fmt.Errorf("debuginfod cache: %w", err)
	}
	var errs []error
	for _, base := range c.URLs {
		err := c.download(ctx, base, id, kind, name, target)
		if err == nil {
			return target, nil
		}
		if ctx.Err() != nil {
			return "", fmt.Errorf("fetching %s from %s: %w", name, base, ctx.Err())
		}
		if !errors.Is(err, ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("%s (build-id %s): %w", name, id, errors.Join(errs...))
	}
	// Record the miss the way elfutils does, so neither tool asks again
	// at once.
	if f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o000); err == nil {
		f.Close()
	}
	return "", fmt.Errorf("%s (build-id %s): %w (%s)", name, id, ErrNotFound, strings.Join(c.URLs, " "))
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: t}
}

// download fetches one server's file into a temporary file beside target,
// checks its build-id and renames it into place.
func (c *Client) download(ctx context.Context, base, id string, kind Kind, name, target string) error {
	url := strings.TrimRight(base, "/") + "/buildid/" + id + "/" + string(kind)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	req.Header.Set("User-Agent", "kwalk")
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	size := resp.ContentLength
	if size < 0 {
		// debuginfod streams files out of archives without a length, and
		// says it here (debuginfod.cxx).
		if n, err := strconv.ParseInt(resp.Header.Get("X-Debuginfod-Size"), 10, 64); err == nil {
			size = n
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".kwalk-"+string(kind)+"-*")
	if err != nil {
		return fmt.Errorf("debuginfod cache: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	p := newProgress(c.Progress, name, base, size)
	n, err := io.Copy(tmp, io.TeeReader(resp.Body, p))
	p.done(err == nil)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: after %d bytes: %w", url, n, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("%s: got %d bytes of %d", url, n, size)
	}
	got, err := FileBuildID(tmp.Name())
	if err != nil {
		return fmt.Errorf("%s: the file it sent: %w", url, err)
	}
	if got != id {
		return fmt.Errorf("%s: the file it sent has build-id %s, not %s", url, got, id)
	}
	if err := os.Chmod(tmp.Name(), 0o400); err != nil {
		return fmt.Errorf("debuginfod cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("debuginfod cache: %w", err)
	}
	return nil
}
