package vfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
)

// maxFds bounds an fd table walk: sysctl fs.nr_open defaults to 1<<20
// (fs/file.c sysctl_nr_open); larger tables are read only that far.
const maxFds = 1 << 20

// OpenFile is one open file descriptor of a task.
type OpenFile struct {
	FD   int    `json:"fd"`
	File uint64 `json:"file"` // struct file *
	// Path is what /proc/PID/fd/N links to: a path with " (deleted)" when
	// unlinked, or "pipe:[ino]", "socket:[ino]", "anon_inode:[eventpoll]"...
	Path    string `json:"path"`
	Dentry  uint64 `json:"dentry"`
	Mount   uint64 `json:"vfsmount"` // f_path.mnt (struct vfsmount *)
	Inode   uint64 `json:"inode"`    // struct inode *
	Ino     uint64 `json:"ino"`      // i_ino
	Mode    uint32 `json:"mode"`     // i_mode
	Type    string `json:"type"`     // REG DIR CHR BLK FIFO SOCK LNK, "" unknown
	FSType  string `json:"fs_type"`  // i_sb->s_type->name
	Dev     uint32 `json:"dev"`      // i_sb->s_dev
	Rdev    uint32 `json:"rdev,omitempty"`
	Flags   uint64 `json:"flags"` // f_flags (O_*)
	Pos     int64  `json:"pos"`
	Count   int64  `json:"count"`   // references (f_count, or f_ref+1)
	Private uint64 `json:"private"` // private_data
	Fuse    bool   `json:"fuse_dev,omitempty"`
	// Errors are the parts that could not be read (others are valid).
	Errors []string `json:"errors,omitempty"`
}

// FileType names an i_mode's S_IFMT bits (include/uapi/linux/stat.h).
func FileType(mode uint32) string {
	switch mode & 0o170000 {
	case 0o100000:
		return "REG"
	case 0o040000:
		return "DIR"
	case 0o020000:
		return "CHR"
	case 0o060000:
		return "BLK"
	case 0o010000:
		return "FIFO"
	case 0o140000:
		return "SOCK"
	case 0o120000:
		return "LNK"
	}
	return ""
}

// Files returns task's open files in fd order: task->files->fdt
// (include/linux/fdtable.h: struct fdtable { max_fds; struct file **fd;
// close_on_exec; open_fds; ... }), the fds set in open_fds with a non-NULL
// fd[] slot. A task without files (a kernel thread, an exited task) has
// none. A file whose details cannot be read is kept with Errors set.
func Files(p *symbols.Program, task sched.Task) ([]OpenFile, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return nil, err
	}
	files, err := readField(p, task.Addr, l.taskFiles, "task_struct.files")
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", task.PID, err)
	}
	if files == 0 {
		return nil, nil
	}
	slots, err := FDTable(p, files)
	if err != nil && len(slots) == 0 {
		return nil, fmt.Errorf("pid %d: %w", task.PID, err)
	}
	out := make([]OpenFile, 0, len(slots))
	for _, s := range slots {
		out = append(out, DescribeFile(p, s.FD, s.File))
	}
	if err != nil {
		return out, fmt.Errorf("pid %d: %w", task.PID, err)
	}
	return out, nil
}

// FDSlot is one used slot of an fd table.
type FDSlot struct {
	FD   int
	File uint64
}

// FDTable returns the used slots of the files_struct at files: fds whose
// open_fds bit is set and whose fd[] entry is not NULL (fs/file.c), up to
// maxFds. If open_fds cannot be read, every fd[] entry is read instead.
func FDTable(p *symbols.Program, files uint64) ([]FDSlot, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return nil, err
	}
	fdt, err := readField(p, files, l.filesFdt, "files_struct.fdt")
	if err != nil {
		return nil, err
	}
	if fdt == 0 {
		return nil, fmt.Errorf("files_struct %#x: NULL fdt", files)
	}
	max, err := readField(p, fdt, l.fdtMaxFds, "fdtable.max_fds")
	if err != nil {
		return nil, err
	}
	arr, err := readField(p, fdt, l.fdtFd, "fdtable.fd")
	if err != nil {
		return nil, err
	}
	var truncErr error
	if max > maxFds {
		truncErr = fmt.Errorf("fdtable %#x: max_fds %d, only the first %d read", fdt, max, maxFds)
		max = maxFds
	}
	if max == 0 || arr == 0 {
		return nil, truncErr
	}
	words := (max + 63) / 64
	bitmap := make([]byte, 8*words)
	haveBitmap := false
	if ob, err := readField(p, fdt, l.fdtOpenFds, "fdtable.open_fds"); err == nil && ob != 0 {
		haveBitmap = p.Mem.ReadVirt(bitmap, ob) == nil
	}
	var out []FDSlot
	var buf [8 * 64]byte
	for w := uint64(0); w < words; w++ {
		mask := ^uint64(0)
		if haveBitmap {
			mask = binary.LittleEndian.Uint64(bitmap[8*w:])
			if mask == 0 {
				continue
			}
		}
		n := uint64(64)
		if rem := max - 64*w; rem < n {
			n = rem
		}
		if err := p.Mem.ReadVirt(buf[:8*n], arr+8*64*w); err != nil {
			return out, fmt.Errorf("fdtable %#x: fd[%d..%d] at %#x: %w", fdt, 64*w, 64*w+n-1, arr+8*64*w, err)
		}
		for mask != 0 {
			b := uint64(bits.TrailingZeros64(mask))
			mask &^= 1 << b
			if b >= n {
				break
			}
			f := binary.LittleEndian.Uint64(buf[8*b:])
			if f != 0 {
				out = append(out, FDSlot{FD: int(64*w + b), File: f})
			}
		}
	}
	return out, truncErr
}

// DescribeFile decodes the struct file at file (fd is only recorded).
func DescribeFile(p *symbols.Program, fd int, file uint64) OpenFile {
	of := OpenFile{FD: fd, File: file}
	l, err := getVFSLayout(p)
	if err != nil {
		of.Errors = append(of.Errors, err.Error())
		return of
	}
	note := func(err error) {
		if err != nil {
			of.Errors = append(of.Errors, err.Error())
		}
	}
	of.Mount, err = readField(p, file, l.fPathMnt, "file.f_path.mnt")
	note(err)
	of.Dentry, err = readField(p, file, l.fPathDentry, "file.f_path.dentry")
	note(err)
	if of.Dentry != 0 {
		of.Path, err = l.pathOf(p, of.Mount, of.Dentry)
		note(err)
	}
	of.Inode, err = readField(p, file, l.fInode, "file.f_inode")
	note(err)
	if of.Inode != 0 {
		if m, err := readField(p, of.Inode, l.iMode, "inode.i_mode"); err == nil {
			of.Mode = uint32(m)
			of.Type = FileType(of.Mode)
		} else {
			note(err)
		}
		of.Ino, err = readField(p, of.Inode, l.iIno, "inode.i_ino")
		note(err)
		if of.Type == "CHR" || of.Type == "BLK" {
			if v, err := readField(p, of.Inode, l.iRdev, "inode.i_rdev"); err == nil {
				of.Rdev = uint32(v)
			}
		}
		if si, err := InodeSuper(p, of.Inode); err == nil {
			of.FSType, of.Dev = si.FSType, si.Dev
		} else {
			note(err)
		}
	}
	if v, err := readField(p, file, l.fFlags, "file.f_flags"); err == nil {
		of.Flags = v
	}
	if v, err := readField(p, file, l.fPos, "file.f_pos"); err == nil {
		of.Pos = int64(v)
	}
	if v, err := readField(p, file, l.fCount, "file.f_count"); err == nil {
		of.Count = int64(v)
		if l.fCountIsRef {
			// include/linux/file_ref.h: the counter holds references - 1.
			of.Count = int64(v) + 1
		}
	}
	if v, err := readField(p, file, l.fPrivate, "file.private_data"); err == nil {
		of.Private = v
	}
	if fuse, err := IsFuseDevice(p, file); err == nil {
		of.Fuse = fuse
	}
	return of
}

// FileObject returns the struct file at addr as an Object.
func FileObject(p *symbols.Program, addr uint64) (symbols.Object, error) {
	return p.Object("struct file", addr)
}

// TaskRootCwd returns the paths of task->fs->root and task->fs->pwd
// (include/linux/fs_struct.h), as /proc/PID/root and cwd show them.
func TaskRootCwd(p *symbols.Program, task sched.Task) (root, cwd string, err error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return "", "", err
	}
	fs, err := readField(p, task.Addr, l.taskFs, "task_struct.fs")
	if err != nil {
		return "", "", err
	}
	if fs == 0 {
		return "", "", fmt.Errorf("pid %d has no fs_struct", task.PID)
	}
	path := func(mf, df kmem.Field, what string) (string, error) {
		mnt, err := readField(p, fs, mf, "fs_struct."+what+".mnt")
		if err != nil {
			return "", err
		}
		d, err := readField(p, fs, df, "fs_struct."+what+".dentry")
		if err != nil {
			return "", err
		}
		return DentryPath(p, mnt, d)
	}
	if root, err = path(l.fsRootMnt, l.fsRootDentry, "root"); err != nil {
		return root, "", err
	}
	cwd, err = path(l.fsPwdMnt, l.fsPwdDentry, "pwd")
	return root, cwd, err
}

// FileUser is one open file descriptor of a task, found by FileUsers.
type FileUser struct {
	Task sched.Task `json:"task"`
	File OpenFile   `json:"file"`
}

// FileUsers returns the open fds of all thread-group leaders (threads share
// their leader's table, kernel/fork.c CLONE_FILES) whose file matches: the
// inode at inode when inode != 0, else files whose path is path or lies
// under it (path + "/"). Tasks whose tables cannot be read are skipped;
// their errors are joined in the returned error.
func FileUsers(p *symbols.Program, tasks []sched.Task, inode uint64, path string) ([]FileUser, error) {
	var out []FileUser
	var errs []error
	l, err := getVFSLayout(p)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		if !t.IsLeader() || t.Idle {
			continue
		}
		fs, err := readField(p, t.Addr, l.taskFiles, "task_struct.files")
		if err != nil || fs == 0 {
			continue
		}
		files, err := Files(p, t)
		if err != nil {
			errs = append(errs, err)
		}
		for _, f := range files {
			match := false
			if inode != 0 {
				match = f.Inode == inode
			} else {
				match = f.Path == path || (path != "" && strings.HasPrefix(f.Path, strings.TrimSuffix(path, "/")+"/"))
			}
			if match {
				out = append(out, FileUser{Task: t, File: f})
			}
		}
	}
	return out, errors.Join(errs...)
}
