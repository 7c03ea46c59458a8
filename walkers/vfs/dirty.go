package vfs

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// I_DIRTY is I_DIRTY_SYNC | I_DIRTY_DATASYNC | I_DIRTY_PAGES, bits 0-2 of
// inode->i_state on every supported kernel (include/linux/fs.h).
const IDirty = 0x7

// maxSuperInodes bounds a walk of a superblock's inode list.
const maxSuperInodes = 1 << 21

// DirtyInode is an inode with data or metadata not yet written back.
type DirtyInode struct {
	Inode uint64 `json:"inode"`
	Ino   uint64 `json:"ino"`
	State uint64 `json:"state"` // i_state
	Path  string `json:"path,omitempty"`
}

// DirtyInodes walks sb->s_inodes (every inode of the superblock, linked by
// i_sb_list; fs/inode.c inode_sb_list_add) and returns those whose i_state
// has an I_DIRTY bit. On error the inodes found so far come with it.
func DirtyInodes(p *symbols.Program, sb uint64) ([]DirtyInode, error) {
	headOff, err := p.OffsetOf("struct super_block", "s_inodes")
	if err != nil {
		return nil, err
	}
	linkOff, err1 := p.OffsetOf("struct inode", "i_sb_list")
	stateOff, err2 := p.OffsetOf("struct inode", "i_state")
	inoOff, err3 := p.OffsetOf("struct inode", "i_ino")
	for _, e := range []error{err1, err2, err3} {
		if e != nil {
			return nil, e
		}
	}
	nodes, werr := kmem.ListHeadNodes(p, sb+headOff, fmt.Sprintf("super_block %#x s_inodes", sb), maxSuperInodes)
	var out []DirtyInode
	for _, n := range nodes {
		inode := n - linkOff
		st, err := p.ReadU32(inode + stateOff)
		if err != nil {
			return out, fmt.Errorf("inode %#x: i_state: %w", inode, err)
		}
		if uint64(st)&IDirty == 0 {
			continue
		}
		d := DirtyInode{Inode: inode, State: uint64(st)}
		d.Ino, _ = p.ReadU64(inode + inoOff)
		d.Path = InodePathBest(p, inode)
		out = append(out, d)
	}
	return out, werr
}
