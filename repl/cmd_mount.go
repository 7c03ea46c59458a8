package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
)

func registerMount(r *Registry) {
	r.Add(&Command{
		Name:    "mount",
		Summary: "mounts of the initial mount namespace (or a task's)",
		Usage:   "mount [-f | -i] [-n PID|TASK-ADDR]",
		Help: `Lists the mounts of the initial mount namespace (init_task's), or of the
mount namespace of the task given with -n, in the namespace's order: mount
id, parent id, struct mount and super_block addresses, device (major:minor),
filesystem type (with subtype, "fuse.NAME"), source and mount point, like
/proc/PID/mountinfo. A bind mount of a subdirectory shows its root in
brackets after the mount point.

-f lists under each mount the files open on it: the superblocks of
current kernels keep no list of open files (s_files went in 3.13), so they
are found in every process's fd table, each with the pids that hold it.
-i lists under each mount its superblock's dirty inodes (s_inodes whose
i_state has I_DIRTY_SYNC, I_DIRTY_DATASYNC or I_DIRTY_PAGES); a
superblock mounted twice is listed once.
-n (formerly -t, still accepted) takes the namespace from a task.

JSON: {"mounts": [{"id", "parent_id", "mount", "super", "dev", "fs_type",
"source", "root", "mount_point", "open_files" (-f: [{"file", "dentry",
"inode", "path", "pids"}]), "dirty_inodes" (-i: [{"inode", "ino",
"state", "path"}]), "errors"}], "warnings": [...], "warning" (the first
warning, kept for older readers)}. Warnings and a mount's errors go to
stderr in text mode.`,
		Flags: []Flag{
			{Name: "n", Aliases: []string{"t"}, Arg: "TASK", Help: "the mount namespace of this task (pid or address)"},
			{Name: "f", Help: "list the files open on each mount"},
			{Name: "i", Help: "list each superblock's dirty inodes"},
		},
		Examples: []string{"mount", "mount -n 121", "mount -f", "mount -i", "mount --json"},
		Run:      runMount,
	})
}

// MountRow is one mount of "mount".
type MountRow struct {
	ID         int    `json:"id"`
	ParentID   int    `json:"parent_id"`
	Mount      Hex    `json:"mount"`
	Super      Hex    `json:"super"`
	Dev        string `json:"dev"`
	FSType     string `json:"fs_type"`
	Source     string `json:"source"`
	Root       string `json:"root"`
	MountPoint string `json:"mount_point"`
	// OpenFiles (-f) and DirtyInodes (-i) are always lists with the flag.
	OpenFiles   *[]MountFile      `json:"open_files,omitempty"`
	DirtyInodes *[]vfs.DirtyInode `json:"dirty_inodes,omitempty"`
	Errors      []string          `json:"errors,omitempty"`
}

// MountFile is one open file of mount -f.
type MountFile struct {
	File   Hex    `json:"file"`
	Dentry Hex    `json:"dentry"`
	Inode  Hex    `json:"inode"`
	Path   string `json:"path"`
	PIDs   []int  `json:"pids"`
}

// MountResult is the result of "mount".
type MountResult struct {
	Mounts   []MountRow `json:"mounts"`
	Warnings []string   `json:"warnings,omitempty"`
	Warning  string     `json:"warning,omitempty"` // Warnings[0], for older readers
}

// ResultWarnings implements Warner: the walk's problems and each mount's.
func (r *MountResult) ResultWarnings() []string {
	out := append([]string(nil), r.Warnings...)
	for _, m := range r.Mounts {
		for _, e := range m.Errors {
			out = append(out, fmt.Sprintf("mount %d (%s): %s", m.ID, m.MountPoint, e))
		}
	}
	return out
}

func runMount(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	var ms []vfs.Mount
	var err error
	if c.Bool("f") && c.Bool("i") {
		return nil, UsageErrorf("mount: -f and -i exclude each other")
	}
	if arg := c.String("n"); arg != "" {
		ti, ferr := findTask(c.Ctx, c.Session, arg)
		if ferr != nil {
			return nil, ferr
		}
		ms, err = vfs.TaskMounts(c.Prog, ti.Task.Addr())
	} else {
		ms, err = vfs.Mounts(c.Prog)
	}
	if len(ms) == 0 && err != nil {
		return nil, err
	}
	res := &MountResult{Mounts: []MountRow{}}
	if err != nil {
		res.Warning = err.Error()
		res.Warnings = []string{res.Warning}
	}
	for _, m := range ms {
		res.Mounts = append(res.Mounts, MountRow{
			ID: m.ID, ParentID: m.ParentID, Mount: Hex(m.Addr), Super: Hex(m.Super.Addr),
			Dev:    fmt.Sprintf("%d:%d", m.Super.Major(), m.Super.Minor()),
			FSType: m.FSType(), Source: m.Source, Root: m.Root, MountPoint: m.MountPoint, Errors: m.Errors,
		})
	}
	switch {
	case c.Bool("f"):
		if err := mountOpenFiles(c, res); err != nil {
			return nil, err
		}
	case c.Bool("i"):
		seen := map[Hex]bool{}
		for i := range res.Mounts {
			m := &res.Mounts[i]
			if seen[m.Super] {
				continue
			}
			seen[m.Super] = true
			d, err := vfs.DirtyInodes(c.Prog, uint64(m.Super))
			if err != nil {
				m.Errors = append(m.Errors, "dirty inodes: "+err.Error())
			}
			if d == nil {
				d = []vfs.DirtyInode{}
			}
			m.DirtyInodes = &d
		}
	}
	return res, nil
}

// WriteText implements Result.
func (r *MountResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "  ID  PARENT      MOUNT             SUPERBLK        DEV    TYPE          SOURCE                 MOUNTPOINT\n")
	for _, m := range r.Mounts {
		mp := m.MountPoint
		if m.Root != "/" && m.Root != "" {
			mp += " [" + m.Root + "]"
		}
		fmt.Fprintf(&b, "%4d  %6d  %016x  %016x  %-6s %-13s %-22s %s\n", m.ID, m.ParentID, uint64(m.Mount), uint64(m.Super), m.Dev, m.FSType, m.Source, mp)
		if m.OpenFiles != nil {
			if len(*m.OpenFiles) == 0 {
				b.WriteString("      (no open files)\n")
			} else {
				b.WriteString("      OPEN FILES:\n            FILE              DENTRY            INODE       PIDS  PATH\n")
			}
			for _, f := range *m.OpenFiles {
				pids := make([]string, len(f.PIDs))
				for i, p := range f.PIDs {
					pids[i] = fmt.Sprint(p)
				}
				fmt.Fprintf(&b, "      %016x  %016x  %016x  %s  %s\n", uint64(f.File), uint64(f.Dentry), uint64(f.Inode), strings.Join(pids, ","), f.Path)
			}
		}
		if m.DirtyInodes != nil {
			if len(*m.DirtyInodes) == 0 {
				b.WriteString("      (no dirty inodes)\n")
			} else {
				b.WriteString("      DIRTY INODES:\n            INODE             INO  STATE  PATH\n")
			}
			for _, d := range *m.DirtyInodes {
				fmt.Fprintf(&b, "      %016x  %10d  %5x  %s\n", d.Inode, d.Ino, d.State, d.Path)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mountOpenFiles fills -f: every process's open files, by the mount they
// were opened through (f_path.mnt is the struct vfsmount inside struct
// mount, fs/mount.h).
func mountOpenFiles(c *Call, res *MountResult) error {
	mntOff, err := c.Prog.OffsetOf("struct mount", "mnt")
	if err != nil {
		return err
	}
	ts, terr := sched.TasksContext(c.Ctx, c.Prog)
	if len(ts) == 0 && terr != nil {
		return terr
	}
	if terr != nil {
		res.Warnings = append(res.Warnings, "tasks: "+terr.Error())
	}
	byMount := map[uint64]int{}
	for i, m := range res.Mounts {
		byMount[uint64(m.Mount)+mntOff] = i
		empty := []MountFile{}
		res.Mounts[i].OpenFiles = &empty
	}
	index := map[uint64]int{} // struct file → its row in its mount's list
	for _, t := range ts {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		if !t.IsLeader() || t.Idle || t.Kthread() {
			continue
		}
		files, err := vfs.Files(c.Prog, t)
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("pid %d: %v", t.PID, err))
		}
		for _, f := range files {
			mi, ok := byMount[f.Mount]
			if !ok {
				continue // a mount of another namespace, or an internal one (pipefs, sockfs)
			}
			list := res.Mounts[mi].OpenFiles
			if j, ok := index[f.File]; ok {
				if pids := (*list)[j].PIDs; pids[len(pids)-1] != t.PID {
					(*list)[j].PIDs = append(pids, t.PID)
				}
				continue
			}
			index[f.File] = len(*list)
			*list = append(*list, MountFile{File: Hex(f.File), Dentry: Hex(f.Dentry), Inode: Hex(f.Inode), Path: f.Path, PIDs: []int{t.PID}})
		}
	}
	return nil
}
