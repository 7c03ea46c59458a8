package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/walkers/vfs"
)

func registerMount(r *Registry) {
	r.Add(&Command{
		Name:    "mount",
		Summary: "mounts of the initial mount namespace (or a task's)",
		Usage:   "mount [-t PID|TASK-ADDR]",
		Help: `Lists the mounts of the initial mount namespace (init_task's), or of the
mount namespace of the task given with -t, in the namespace's order: mount
id, parent id, struct mount and super_block addresses, device (major:minor),
filesystem type (with subtype, "fuse.NAME"), source and mount point, like
/proc/PID/mountinfo. A bind mount of a subdirectory shows its root in
brackets after the mount point.

JSON: {"mounts": [{"id", "parent_id", "mount", "super", "dev", "fs_type",
"source", "root", "mount_point", "errors"}], "warnings": [...], "warning"
(the first warning, kept for older readers)}. Warnings and a mount's
errors go to stderr in text mode.`,
		Flags:    []Flag{{Name: "t", Arg: "TASK", Help: "the mount namespace of this task (pid or address)"}},
		Examples: []string{"mount", "mount -t 121", "mount --json"},
		Run:      runMount,
	})
}

// MountRow is one mount of "mount".
type MountRow struct {
	ID         int      `json:"id"`
	ParentID   int      `json:"parent_id"`
	Mount      Hex      `json:"mount"`
	Super      Hex      `json:"super"`
	Dev        string   `json:"dev"`
	FSType     string   `json:"fs_type"`
	Source     string   `json:"source"`
	Root       string   `json:"root"`
	MountPoint string   `json:"mount_point"`
	Errors     []string `json:"errors,omitempty"`
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
	if arg := c.String("t"); arg != "" {
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
	}
	_, err := io.WriteString(w, b.String())
	return err
}
