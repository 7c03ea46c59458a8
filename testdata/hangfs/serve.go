package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// readyPath is the file serve creates once MOUNTPOINT is served (and, in
// selfflush mode, once the file of its own mount sits on fd 0).
func readyPath(mountPoint string) string {
	return "/tmp/hangfs-ready-" + filepath.Base(mountPoint)
}

// serve mounts a hangFS on mountPoint and serves it until killed.
func serve(mountPoint, mode string) error {
	switch mode {
	case modeHangWrite, modeHangRead, modeHangReadDirect, modeReenter, modeSelfFlush, modePlain:
	default:
		return fmt.Errorf("serve %s: unknown mode %q", mountPoint, mode)
	}
	if err := os.MkdirAll(mountPoint, 0o755); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fs := newHangFS(mountPoint, mode)
	srv, err := fuse.NewServer(fs, mountPoint, &fuse.MountOptions{
		AllowOther:        true,
		Name:              "hangfs",
		FsName:            "hangfs-" + mode,
		DirectMountStrict: true,
		DisableXAttrs:     true,
		MaxBackground:     64,
		// Without async_read the reader that starts a READ for the page
		// cache waits for it itself, holding the folios' locks
		// (fs/fuse/file.c fuse_send_readpages).
		SyncRead: mode == modeHangRead,
	})
	if err != nil {
		return fmt.Errorf("serve %s: mount: %w", mountPoint, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		return fmt.Errorf("serve %s: wait for mount: %w", mountPoint, err)
	}
	fmt.Fprintf(os.Stderr, "hangfs: serving %s %s\n", mountPoint, mode)
	if mode == modeSelfFlush {
		// A file of our own mount on fd 0, below the /dev/fuse descriptor:
		// when we are killed, exit closes fd 0 first and its FLUSH goes to a
		// server that is itself exiting and can never answer
		// (fs/file.c close_files walks the fd table upwards).
		f, err := os.OpenFile(filepath.Join(mountPoint, "held"), os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return fmt.Errorf("selfflush: open own file: %w", err)
		}
		if err := unix.Dup3(int(f.Fd()), 0, 0); err != nil {
			return fmt.Errorf("selfflush: dup3 onto fd 0: %w", err)
		}
		f.Close()
	}
	if err := os.WriteFile(readyPath(mountPoint), nil, 0o644); err != nil {
		return fmt.Errorf("serve %s: %w", mountPoint, err)
	}
	srv.Wait()
	return nil
}
