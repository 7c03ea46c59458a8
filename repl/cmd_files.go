package repl

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
)

func registerFiles(r *Registry) {
	r.Add(&Command{
		Name:    "files",
		Summary: "open files of a task: fd, file, dentry, inode, type, path",
		Usage:   "files [-c] [-R REF] [PID|TASK-ADDR]... | files -d DENTRY | files -p INODE",
		Help: `Lists the open file descriptors of the current task (see set), or of each
task given by pid or task_struct address, like crash: the task's root and
working directory, then one line per fd with the struct file, dentry and
inode addresses, the file type (REG DIR CHR BLK FIFO SOCK LNK) and the path
as /proc/PID/fd shows it ("pipe:[1234]", "socket:[5678]",
"anon_inode:[eventpoll]", " (deleted)" for unlinked files). /dev/fuse files
are marked [fuse].

-c shows instead of the file and dentry each fd's i_mapping and how many
pages of it are in the page cache (nrpages).
-R REF shows only the fds that refer to REF, in every process when no
task is given: a struct file, dentry or inode address (hex), a path,
a file name, "socket:[N]" or "pipe:[N]", or an fd number (decimal).
-d DENTRY shows a dentry: its inode, superblock, type and path.
-p INODE lists the pages of an inode's page cache (i_mapping->i_pages),
by index; evicted pages' shadow entries are counted, not listed.

JSON: {"tasks": [{"pid", "comm", "task", "root", "cwd", "files": [{"fd",
"file", "dentry", "inode", "ino", "type", "fs_type", "path", "flags",
"pos", "count", "fuse_dev", "mapping" (-c), "nrpages" (-c), "errors"}],
"error"}]}; addresses are strings. -d: {"dentry", "inode", "super",
"type", "fs_type", "path"}. -p: {"inode", "mapping", "nrpages",
"pages": [{"index", "page"}], "shadows", "error"}.`,
		Flags: []Flag{
			{Name: "c", Help: "show each file's page-cache mapping and page count"},
			{Name: "R", Arg: "REF", Help: "only fds referring to REF (address, path, name, socket:[N], fd)"},
			{Name: "d", Arg: "DENTRY", Help: "show the dentry at this address"},
			{Name: "p", Arg: "INODE", Help: "list the page-cache pages of the inode at this address"},
		},
		Examples: []string{"files", "files 1", "foreach files", "files --json 110", "files -c 1", "files -R socket:[12345]",
			"files -R /mnt/w", "files -d ffff8a83c20db400", "files -p ffff8a83c1f3a8e8"},
		PerTask:  true,
		Complete: func(c *Completion) []string { return c.Pids() },
		Run:      runFiles,
	})
	r.Add(&Command{
		Name:    "fuser",
		Summary: "tasks that have a file (path, directory or inode) open",
		Usage:   "fuser PATH|INODE-ADDR",
		Help: `Lists every process with an open file descriptor on PATH (or any file
under PATH when it is a directory or mount point), or on the inode at the
given address (hex): PID, command, fd and the file's path. The paths are
those "files" shows.

JSON: {"users": [{"pid", "comm", "task", "state", "fd", "file", "inode",
"path"}], "warnings": [...], "warning" (the first warning, kept for older
readers)}. Warnings go to stderr in text mode.`,
		Examples: []string{"fuser /mnt/w", "fuser /dev/fuse", "fuser ffff8a83c20db400"},
		Run:      runFuser,
	})
}

// FuserRow is one open fd of "fuser".
type FuserRow struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	Task  Hex    `json:"task"`
	State string `json:"state"`
	FD    int    `json:"fd"`
	File  Hex    `json:"file"`
	Inode Hex    `json:"inode"`
	Path  string `json:"path"`
}

// FuserResult is the result of "fuser".
type FuserResult struct {
	Users    []FuserRow `json:"users"`
	Warnings []string   `json:"warnings,omitempty"`
	Warning  string     `json:"warning,omitempty"` // Warnings[0], for older readers
}

// ResultWarnings implements Warner.
func (r *FuserResult) ResultWarnings() []string { return r.Warnings }

func runFuser(c *Call) (Result, error) {
	if err := c.NeedArgs(1, 1); err != nil {
		return nil, err
	}
	arg := c.Args[0]
	var inode uint64
	path := arg
	if !strings.HasPrefix(arg, "/") {
		v, err := strconv.ParseUint(strings.TrimPrefix(arg, "0x"), 16, 64)
		if err != nil {
			return nil, UsageErrorf("fuser: %q is neither an absolute path nor an inode address", arg)
		}
		inode, path = v, ""
	}
	tasks, err := sched.Tasks(c.Prog)
	if len(tasks) == 0 && err != nil {
		return nil, err
	}
	users, uerr := vfs.FileUsers(c.Prog, tasks, inode, path)
	res := &FuserResult{Users: []FuserRow{}}
	if uerr != nil {
		res.Warning = uerr.Error()
		res.Warnings = []string{res.Warning}
	}
	if err != nil {
		// Tasks past a break in the task list were not looked at.
		res.Warnings = append(res.Warnings, err.Error())
	}
	for _, u := range users {
		res.Users = append(res.Users, FuserRow{PID: u.Task.PID, Comm: u.Task.Comm, Task: Hex(u.Task.Addr), State: u.Task.State,
			FD: u.File.FD, File: Hex(u.File.File), Inode: Hex(u.File.Inode), Path: u.File.Path})
	}
	return res, nil
}

// WriteText implements Result.
func (r *FuserResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(r.Users) == 0 {
		b.WriteString("no task has it open\n")
	} else {
		fmt.Fprintf(&b, "   PID  ST  COMM              FD  FILE              PATH\n")
	}
	for _, u := range r.Users {
		fmt.Fprintf(&b, "%6d  %s   %-16s %3d  %016x  %s\n", u.PID, u.State, u.Comm, u.FD, uint64(u.File), u.Path)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FileRow is one fd of "files".
type FileRow struct {
	FD      int      `json:"fd"`
	File    Hex      `json:"file"`
	Dentry  Hex      `json:"dentry"`
	Inode   Hex      `json:"inode"`
	Ino     uint64   `json:"ino"`
	Type    string   `json:"type,omitempty"`
	FSType  string   `json:"fs_type,omitempty"`
	Path    string   `json:"path"`
	Flags   Hex      `json:"flags"`
	Pos     int64    `json:"pos"`
	Count   int64    `json:"count"`
	FuseDev bool     `json:"fuse_dev"`
	Mapping *Hex     `json:"mapping,omitempty"` // -c
	NrPages *uint64  `json:"nrpages,omitempty"` // -c
	Errors  []string `json:"errors,omitempty"`
}

// FilesTask is one task of "files".
type FilesTask struct {
	PID   int       `json:"pid"`
	Comm  string    `json:"comm"`
	Task  Hex       `json:"task"`
	CPU   int       `json:"cpu"`
	Root  string    `json:"root,omitempty"`
	Cwd   string    `json:"cwd,omitempty"`
	Files []FileRow `json:"files"`
	Error string    `json:"error,omitempty"`
}

// FilesResult is the result of "files".
type FilesResult struct {
	Tasks []FilesTask `json:"tasks"`

	cache bool   // -c
	ref   string // -R
}

func runFiles(c *Call) (Result, error) {
	if r, done, err := runFilesSub(c); done {
		return r, err
	}
	objs, err := filesTasks(c)
	if err != nil {
		return nil, err
	}
	ref := c.String("R")
	res := &FilesResult{cache: c.Bool("c"), ref: ref, Tasks: []FilesTask{}}
	for _, o := range objs {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		t, err := sched.TaskFromObject(o)
		if err != nil {
			return nil, err
		}
		ft := FilesTask{PID: t.PID, Comm: t.Comm, Task: Hex(t.Addr), CPU: t.CPU, Files: []FileRow{}}
		if root, cwd, err := vfs.TaskRootCwd(c.Prog, t); err == nil {
			ft.Root, ft.Cwd = root, cwd
		}
		files, err := vfs.Files(c.Prog, t)
		if err != nil {
			ft.Error = err.Error()
		}
		for _, f := range files {
			if ref != "" && !fileRefers(f, ref) {
				continue
			}
			row := FileRow{
				FD: f.FD, File: Hex(f.File), Dentry: Hex(f.Dentry), Inode: Hex(f.Inode), Ino: f.Ino,
				Type: f.Type, FSType: f.FSType, Path: f.Path, Flags: Hex(f.Flags), Pos: f.Pos,
				Count: f.Count, FuseDev: f.Fuse, Errors: f.Errors,
			}
			if res.cache && f.Inode != 0 {
				m, err := vfs.InodeMapping(c.Prog, f.Inode)
				if err != nil {
					row.Errors = append(row.Errors, err.Error())
				} else {
					h, n := Hex(m.Mapping), m.NrPages
					row.Mapping, row.NrPages = &h, &n
				}
			}
			ft.Files = append(ft.Files, row)
		}
		if ref != "" && len(ft.Files) == 0 && ft.Error == "" {
			continue // -R: only the tasks that refer to it
		}
		res.Tasks = append(res.Tasks, ft)
	}
	return res, nil
}

// WriteText implements Result, crash's layout.
func (r *FilesResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.ref != "" && len(r.Tasks) == 0 {
		fmt.Fprintf(&b, "no open file refers to %s\n", r.ref)
	}
	for i, t := range r.Tasks {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "PID: %-6d TASK: %016x  CPU: %-3d COMMAND: %q\n", t.PID, uint64(t.Task), t.CPU, t.Comm)
		if t.Root != "" || t.Cwd != "" {
			fmt.Fprintf(&b, "ROOT: %s    CWD: %s\n", t.Root, t.Cwd)
		}
		if len(t.Files) == 0 && t.Error == "" {
			b.WriteString("No open files\n")
		}
		if len(t.Files) > 0 && r.cache {
			fmt.Fprintf(&b, " FD       INODE            I_MAPPING         NRPAGES  TYPE  PATH\n")
		} else if len(t.Files) > 0 {
			fmt.Fprintf(&b, " FD       FILE              DENTRY            INODE        TYPE  PATH\n")
		}
		for _, f := range t.Files {
			path := f.Path
			if f.FuseDev {
				path += " [fuse]"
			}
			typ := f.Type
			if typ == "" {
				typ = "UNKN"
			}
			if r.cache {
				var mapping Hex
				var n uint64
				if f.Mapping != nil {
					mapping, n = *f.Mapping, *f.NrPages
				}
				fmt.Fprintf(&b, "%3d  %016x  %016x  %7d  %-4s  %s\n", f.FD, uint64(f.Inode), uint64(mapping), n, typ, path)
				continue
			}
			fmt.Fprintf(&b, "%3d  %016x  %016x  %016x  %-4s  %s\n", f.FD, uint64(f.File), uint64(f.Dentry), uint64(f.Inode), typ, path)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ResultWarnings implements Warner: a task's unreadable fd table and each
// file's errors go to stderr, not into the table.
func (r *FilesResult) ResultWarnings() []string {
	var out []string
	for _, t := range r.Tasks {
		if t.Error != "" {
			out = append(out, fmt.Sprintf("pid %d: %s", t.PID, t.Error))
		}
		for _, f := range t.Files {
			for _, e := range f.Errors {
				out = append(out, fmt.Sprintf("pid %d fd %d: %s", t.PID, f.FD, e))
			}
		}
	}
	return out
}
