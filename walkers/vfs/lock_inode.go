package vfs

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// InodeDesc says what an inode is, for lock and wait descriptions.
type InodeDesc struct {
	Addr uint64 `json:"addr"`
	Ino  uint64 `json:"ino"`
	// Fs is the file system type ("fuse", "ext4"), with the subtype for
	// FUSE ("fuse.hangfs") when the superblock records one.
	Fs string `json:"fs"`
	// Dev is the superblock's s_id ("sda1", "hangfs-hang-write").
	Dev  string `json:"dev"`
	Path string `json:"path,omitempty"`
	// Dir is true for directories.
	Dir bool `json:"dir,omitempty"`
}

// String names the inode by its path when known: "directory /mnt/w
// (fuse.hangfs inode 1)", "/mnt/w/data (fuse.hangfs inode 2)", "inode on
// sda1 (ext4 inode 12)". The number is the file system's own (st_ino):
// FUSE servers and others may choose any 64-bit value.
func (d InodeDesc) String() string {
	where := d.Path
	if where == "" {
		where = "inode on " + d.Dev
	} else if d.Dir {
		where = "directory " + where
	}
	return fmt.Sprintf("%s (%s inode %d)", where, d.Fs, d.Ino)
}

// sIFMT and sIFDIR are the file type bits of i_mode (include/uapi/linux/stat.h).
const (
	SIFMT  = 0o170000
	sIFDIR = 0o040000
)

// DescribeInode reads an inode's number, its superblock's file system and
// id, and its path when one of its dentries leads to a mount.
func DescribeInode(p *symbols.Program, addr uint64) (InodeDesc, error) {
	d := InodeDesc{Addr: addr}
	in, err := p.Object("struct inode", addr)
	if err != nil {
		return d, err
	}
	if d.Ino, err = in.MemberUint("i_ino"); err != nil {
		return d, err
	}
	if mode, err := in.MemberUint("i_mode"); err == nil {
		d.Dir = mode&SIFMT == sIFDIR
	}
	sb, err := in.Member("i_sb")
	if err != nil {
		return d, err
	}
	d.Fs, d.Dev, err = SuperBlockName(sb)
	if err != nil {
		return d, err
	}
	d.Path = InodePathBest(p, addr)
	return d, nil
}

// SuperBlockName returns "fstype[.subtype]" and s_id of a super_block
// pointer object.
func SuperBlockName(sb symbols.Object) (fs, id string, err error) {
	fs, err = sb.MemberString("s_type->name")
	if err != nil {
		return "", "", err
	}
	if sb.Type().Resolve().Elem.HasMember("s_subtype") {
		if st, err := sb.MemberString("s_subtype"); err == nil && st != "" {
			fs += "." + st
		}
	}
	id, err = sb.MemberString("s_id")
	return fs, id, err
}

// maxPathDepth bounds dentry and mount parent walks.
const maxPathDepth = 256

// InodePathBest returns a path for the inode: InodePath, else its first alias dentry
// (inode.i_dentry, dentry.d_u.d_alias; fs/dcache.c) up to its superblock's
// root, prefixed with where that superblock is first mounted. "" when no
// dentry is found.
func InodePathBest(p *symbols.Program, inode uint64) string {
	if path, err := InodePath(p, inode); err == nil && path != "" {
		return path
	}
	in, err := p.Object("struct inode", inode)
	if err != nil {
		return ""
	}
	first, err := in.MemberUint("i_dentry.first")
	if err != nil || first == 0 {
		return ""
	}
	aliasPath := "d_u.d_alias"
	if dt, err := p.Type("struct dentry"); err == nil && dt.HasMember("d_alias") {
		aliasPath = "d_alias" // 7.1: the d_u union is anonymous
	}
	d, err := p.ContainerOf(first, "struct dentry", aliasPath)
	if err != nil {
		return ""
	}
	rel, ok := dentryRelPath(p, d.Addr())
	if !ok {
		return ""
	}
	sb, err := in.MemberUint("i_sb")
	if err != nil {
		return rel
	}
	mps := SuperBlockMountPoints(p, sb)
	if len(mps) == 0 {
		return rel
	}
	if mps[0] == "/" {
		return rel
	}
	if rel == "/" {
		return mps[0]
	}
	return mps[0] + rel
}

// dentryRelPath builds the path of dentry d from its superblock's root
// (the dentry whose d_parent is itself).
func dentryRelPath(p *symbols.Program, d uint64) (string, bool) {
	var parts []string
	for i := 0; i < maxPathDepth; i++ {
		o, err := p.Object("struct dentry", d)
		if err != nil {
			return "", false
		}
		parent, err := o.MemberUint("d_parent")
		if err != nil {
			return "", false
		}
		if parent == d || parent == 0 {
			path := ""
			for j := len(parts) - 1; j >= 0; j-- {
				path += "/" + parts[j]
			}
			if path == "" {
				path = "/"
			}
			return path, true
		}
		name, err := o.MemberString("d_name.name")
		if err != nil {
			return "", false
		}
		parts = append(parts, name)
		d = parent
	}
	return "", false
}
