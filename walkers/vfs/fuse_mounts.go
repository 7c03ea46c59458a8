package vfs

import (
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// SuperBlockMountPoints returns the paths where sb is mounted: each struct
// mount on sb->s_mounts (mount.mnt_instance, fs/mount.h, up to 6.17) or
// the singly linked sb->s_mounts / mount.mnt_next_for_sb (6.18+), its path
// built like fs/d_path.c __prepend_path: the mountpoint dentry's path in
// the parent mount, recursively, until a mount that is its own parent.
func SuperBlockMountPoints(p *symbols.Program, sb uint64) []string {
	var out []string
	for _, m := range SuperBlockMounts(p, sb) {
		if path, ok := MountPath(p, m); ok {
			out = append(out, path)
		}
	}
	return out
}

// MountDevName reads mount.mnt_devname, the source /proc/self/mountinfo
// shows (fs/mount.h).
func MountDevName(p *symbols.Program, m uint64) string {
	o, err := p.Object("struct mount", m)
	if err != nil {
		return ""
	}
	s, _ := o.MemberString("mnt_devname")
	return s
}

// SuperBlockMounts lists the struct mount addresses of sb.
func SuperBlockMounts(p *symbols.Program, sb uint64) []uint64 {
	s, err := p.Object("struct super_block", sb)
	if err != nil {
		return nil
	}
	var mounts []uint64
	if mt, err := p.Type("struct mount"); err == nil && mt.HasMember("mnt_next_for_sb") {
		m, _ := s.MemberUint("s_mounts")
		for i := 0; m != 0 && i < 64; i++ {
			mounts = append(mounts, m)
			o, err := p.Object("struct mount", m)
			if err != nil {
				break
			}
			if m, err = o.MemberUint("mnt_next_for_sb"); err != nil {
				break
			}
		}
	} else {
		head, err := s.Member("s_mounts")
		if err != nil {
			return nil
		}
		off, err := p.OffsetOf("struct mount", "mnt_instance")
		if err != nil {
			return nil
		}
		nodes, _ := kmem.ListHeadNodes(p, head.Addr(), "", 64)
		for _, n := range nodes {
			mounts = append(mounts, n-off)
		}
	}
	return mounts
}

// MountPath returns where the struct mount at m is mounted.
func MountPath(p *symbols.Program, m uint64) (string, bool) {
	path := ""
	for i := 0; i < maxPathDepth; i++ {
		o, err := p.Object("struct mount", m)
		if err != nil {
			return "", false
		}
		parent, err := o.MemberUint("mnt_parent")
		if err != nil {
			return "", false
		}
		if parent == m || parent == 0 {
			if path == "" {
				path = "/"
			}
			return path, true
		}
		mp, err := o.MemberUint("mnt_mountpoint")
		if err != nil {
			return "", false
		}
		rel, ok := dentryRelPath(p, mp)
		if !ok {
			return "", false
		}
		if rel != "/" {
			path = rel + path
		}
		m = parent
	}
	return "", false
}
