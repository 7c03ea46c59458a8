package repl

import (
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// files -R -d -p: crash's reference search, dentry and page-cache views.

// filesTasks are the tasks files works on: those given, the current one,
// or with -R and none given (outside foreach) every process (threads share
// their leader's table).
func filesTasks(c *Call) ([]symbols.Object, error) {
	if c.String("R") == "" || len(c.Args) > 0 || c.foreachTask {
		return argTasks(c)
	}
	ts, err := sched.TasksContext(c.Ctx, c.Prog)
	if len(ts) == 0 && err != nil {
		return nil, err
	}
	var out []symbols.Object
	for _, t := range ts {
		if t.IsLeader() && !t.Idle && !t.Kthread() {
			out = append(out, t.Obj)
		}
	}
	return out, nil
}

// fileRefers reports whether open file f refers to ref: its struct file,
// dentry or inode address, its fd number, its path, a path above it, or
// its file name.
func fileRefers(f vfs.OpenFile, ref string) bool {
	if n, err := strconv.Atoi(ref); err == nil {
		return f.FD == n
	}
	if strings.HasPrefix(ref, "0x") || (len(ref) >= 12 && strings.Trim(strings.ToLower(ref), "0123456789abcdef") == "") {
		if v, err := strconv.ParseUint(strings.TrimPrefix(ref, "0x"), 16, 64); err == nil {
			return v == f.File || v == f.Dentry || v == f.Inode
		}
	}
	p := strings.TrimSuffix(f.Path, " (deleted)")
	switch {
	case p == ref || f.Path == ref:
		return true
	case strings.HasPrefix(ref, "/"):
		return strings.HasPrefix(p, strings.TrimSuffix(ref, "/")+"/")
	case !strings.Contains(ref, "/") && strings.HasPrefix(p, "/"):
		return path.Base(p) == ref
	}
	return false
}

// runFilesSub runs -d and -p; done is false for the fd listing.
func runFilesSub(c *Call) (Result, bool, error) {
	d, p := c.String("d"), c.String("p")
	if d == "" && p == "" {
		return nil, false, nil
	}
	if (d != "" && p != "") || c.Bool("c") || c.String("R") != "" || len(c.Args) > 0 {
		return nil, true, UsageErrorf("files: -d and -p take only their address")
	}
	arg := d + p
	addr, err := strconv.ParseUint(strings.TrimPrefix(arg, "0x"), 16, 64)
	if err != nil {
		return nil, true, UsageErrorf("files: %q is not an address", arg)
	}
	if d != "" {
		r, err := describeDentry(c.Prog, addr)
		return r, true, err
	}
	r, err := inodePages(c, addr)
	return r, true, err
}

// FilesDentry is the result of files -d.
type FilesDentry struct {
	Dentry Hex    `json:"dentry"`
	Inode  Hex    `json:"inode"`
	Super  Hex    `json:"super"`
	Type   string `json:"type"`
	FSType string `json:"fs_type"`
	Path   string `json:"path"`
}

func describeDentry(p *symbols.Program, addr uint64) (FilesDentry, error) {
	r := FilesDentry{Dentry: Hex(addr)}
	de, err := p.Object("struct dentry", addr)
	if err != nil {
		return r, err
	}
	inode, err := de.MemberUint("d_inode")
	if err != nil {
		return r, fmt.Errorf("dentry %#x: %w", addr, err)
	}
	sb, err := de.MemberUint("d_sb")
	if err != nil {
		return r, fmt.Errorf("dentry %#x: %w", addr, err)
	}
	r.Inode, r.Super = Hex(inode), Hex(sb)
	if inode != 0 {
		if io, err := p.Object("struct inode", inode); err == nil {
			if mode, err := io.MemberUint("i_mode"); err == nil {
				r.Type = vfs.FileType(uint32(mode))
			}
		}
	}
	if si, err := vfs.Super(p, sb); err == nil {
		r.FSType = si.FSType
	}
	// From the filesystem's root: a dentry does not know its mount.
	if r.Path, err = vfs.DentryPath(p, 0, addr); err != nil && r.Path == "" {
		return r, fmt.Errorf("dentry %#x: %w", addr, err)
	}
	return r, nil
}

// WriteText implements Result, crash's layout.
func (r FilesDentry) WriteText(w io.Writer) error {
	typ := r.Type
	if typ == "" {
		typ = "-"
	}
	_, err := fmt.Fprintf(w, "     DENTRY           INODE           SUPERBLK     TYPE PATH\n%016x %016x %016x %-4s %s\n",
		uint64(r.Dentry), uint64(r.Inode), uint64(r.Super), typ, r.Path)
	return err
}

// FilesPages is the result of files -p.
type FilesPages struct {
	Inode   Hex              `json:"inode"`
	Mapping Hex              `json:"mapping"`
	NrPages uint64           `json:"nrpages"`
	Pages   []FilesCachePage `json:"pages"`
	Shadows int              `json:"shadows"`
	Error   string           `json:"error,omitempty"`
}

// FilesCachePage is one page of files -p.
type FilesCachePage struct {
	Index uint64 `json:"index"`
	Page  Hex    `json:"page"`
}

func inodePages(c *Call, inode uint64) (*FilesPages, error) {
	m, err := vfs.InodeMapping(c.Prog, inode)
	if err != nil {
		return nil, err
	}
	r := &FilesPages{Inode: Hex(inode), Mapping: Hex(m.Mapping), NrPages: m.NrPages, Pages: []FilesCachePage{}}
	if m.Mapping == 0 {
		return r, nil
	}
	pages, shadows, err := vfs.CachedPages(c.Prog, m.Mapping)
	if err != nil {
		if len(pages) == 0 {
			return nil, err
		}
		r.Error = err.Error()
	}
	r.Shadows = shadows
	for _, pg := range pages {
		r.Pages = append(r.Pages, FilesCachePage{Index: pg.Index, Page: Hex(pg.Page)})
	}
	return r, nil
}

// WriteText implements Result.
func (r *FilesPages) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "     INODE        NRPAGES\n%016x  %7d\n\n", uint64(r.Inode), r.NrPages)
	if len(r.Pages) > 0 {
		b.WriteString("      PAGE              INDEX\n")
	}
	for _, pg := range r.Pages {
		fmt.Fprintf(&b, "%016x  %9d\n", uint64(pg.Page), pg.Index)
	}
	if r.Shadows > 0 {
		fmt.Fprintf(&b, "(%d shadow entries of evicted pages)\n", r.Shadows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ResultWarnings implements Warner.
func (r *FilesPages) ResultWarnings() []string {
	if r.Error != "" {
		return []string{r.Error}
	}
	return nil
}
