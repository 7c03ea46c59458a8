package vfs

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// Mount is one mount of a mount namespace, described like a line of
// /proc/PID/mountinfo (fs/proc_namespace.c show_mountinfo).
type Mount struct {
	Addr     uint64 `json:"addr"` // struct mount *
	ID       int    `json:"id"`   // mnt_id
	ParentID int    `json:"parent_id"`
	// Root is the path of the mount's root inside its filesystem ("/"
	// unless a bind mount of a subdirectory).
	Root string `json:"root"`
	// MountPoint is the path where it is mounted, from the namespace root.
	MountPoint string    `json:"mount_point"`
	Source     string    `json:"source"` // mnt_devname
	Super      SuperInfo `json:"super"`
	// Errors are the parts that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// FSType is "fuse.hangfs"-style: the type with its subtype.
func (m Mount) FSType() string { return m.Super.FullType() }

// maxMounts bounds a namespace walk (fs/namespace.c sysctl mount-max
// defaults to 100000).
const maxMounts = 1 << 20

// Mounts returns the mounts of the initial mount namespace
// (init_task.nsproxy->mnt_ns, init/init_task.c init_nsproxy).
func Mounts(p *symbols.Program) ([]Mount, error) {
	a, err := p.Symbol("init_task")
	if err != nil {
		return nil, err
	}
	return TaskMounts(p, a)
}

// TaskMounts returns the mounts of the mount namespace of the task at
// task (task->nsproxy->mnt_ns).
func TaskMounts(p *symbols.Program, task uint64) ([]Mount, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return nil, err
	}
	nsp, err := readField(p, task, l.taskNsproxy, "task_struct.nsproxy")
	if err != nil {
		return nil, err
	}
	if nsp == 0 {
		return nil, fmt.Errorf("task %#x has no nsproxy (exited)", task)
	}
	ns, err := readField(p, nsp, l.nsproxyMntNs, "nsproxy.mnt_ns")
	if err != nil {
		return nil, err
	}
	return NamespaceMounts(p, ns)
}

// NamespaceMounts returns the mounts of the struct mnt_namespace at ns, in
// the namespace's order: its list mnt_namespace.list through mount.mnt_list
// (to 6.7), or its rbtree mnt_namespace.mounts through mount.mnt_node
// (6.8+, fs/mount.h), ordered by mount id.
func NamespaceMounts(p *symbols.Program, ns uint64) ([]Mount, error) {
	l, err := getVFSLayout(p)
	if err != nil {
		return nil, err
	}
	var addrs []uint64
	var werr error
	switch {
	case l.nsMounts.OK && l.mntNode.OK:
		nodes, err := kmem.RBTreeNodes(p, ns+l.nsMounts.Off, fmt.Sprintf("mnt_namespace %#x mounts", ns), maxMounts)
		werr = err
		for _, n := range nodes {
			addrs = append(addrs, n-l.mntNode.Off)
		}
	case l.nsList.OK && l.mntList.OK:
		nodes, err := kmem.ListHeadNodes(p, ns+l.nsList.Off, fmt.Sprintf("mnt_namespace %#x list", ns), maxMounts)
		werr = err
		for _, n := range nodes {
			addrs = append(addrs, n-l.mntList.Off)
		}
	default:
		return nil, fmt.Errorf("%w: mnt_namespace has neither a mounts rbtree nor a list", symbols.ErrNoMember)
	}
	out := make([]Mount, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, DescribeMount(p, a))
	}
	return out, werr
}

// DescribeMount decodes the struct mount at mnt.
func DescribeMount(p *symbols.Program, mnt uint64) Mount {
	m := Mount{Addr: mnt}
	l, err := getVFSLayout(p)
	if err != nil {
		m.Errors = append(m.Errors, err.Error())
		return m
	}
	note := func(err error) {
		if err != nil {
			m.Errors = append(m.Errors, err.Error())
		}
	}
	if v, err := readField(p, mnt, l.mntID, "mount.mnt_id"); err == nil {
		m.ID = int(int32(v))
	} else {
		note(err)
	}
	parent, err := readField(p, mnt, l.mntParent, "mount.mnt_parent")
	note(err)
	if parent != 0 && parent != mnt {
		if v, err := readField(p, parent, l.mntID, "mount.mnt_id"); err == nil {
			m.ParentID = int(int32(v))
		} else {
			note(err)
		}
	} else {
		m.ParentID = m.ID // the namespace root is its own parent, as mountinfo shows
	}
	if dp, err := readField(p, mnt, l.mntDevname, "mount.mnt_devname"); err == nil && dp != 0 {
		m.Source, err = p.ReadString(dp, 4096)
		note(err)
	} else {
		note(err)
	}
	root, err := readField(p, mnt, l.mntRoot, "mount.mnt.mnt_root")
	note(err)
	if root != 0 {
		// The root inside its filesystem: the dentry path without
		// crossing mounts (fs/proc_namespace.c seq_dentry).
		m.Root, err = l.prependPath(p, 0, root)
		note(err)
		m.MountPoint, err = DentryPath(p, mnt+l.mntVfs.Off, root)
		note(err)
	}
	if sb, err := readField(p, mnt, l.mntSb, "mount.mnt.mnt_sb"); err == nil {
		m.Super, err = Super(p, sb)
		note(err)
	} else {
		note(err)
	}
	return m
}
