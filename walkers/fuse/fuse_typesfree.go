package fuse

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// FUSE without the fuse module's types (a 5.10 kernel: module BTF exists
// only since 5.11, CONFIG_DEBUG_INFO_BTF_MODULES). Connections, servers and
// waiters are still tied together, from facts that need no FUSE type:
//
//   - a FUSE superblock (super_blocks, s_type->name "fuse"/"fuseblk";
//     vmlinux types) has s_fs_info = struct fuse_mount *, whose first
//     member is struct fuse_conn *fc (5.10 fs/fuse/fuse_i.h; before 5.10
//     s_fs_info was the fuse_conn itself, whose first words are its
//     spinlock and refcount, never a pointer);
//   - the connection's /sys/fs/fuse/connections number is sb->s_dev
//     (fs/fuse/control.c prints fc->dev = sb->s_dev with %u, inode.c);
//   - a /dev/fuse file has f_op == &fuse_dev_operations (fs/fuse/dev.c,
//     found in the module's kallsyms) and private_data = struct fuse_dev *,
//     whose first member is fc (5.10 through 6.19 fs/fuse/fuse_i.h; 7.1
//     moved it, so the first word is accepted only when it is the fc of
//     some FUSE superblock: the two layouts check each other).
//
// The offsets were checked against the DWARF of Debian's 5.10.223 fuse.ko
// (linux-image-5.10.0-32-cloud-amd64-dbg): fuse_dev.fc at 0, fuse_mount.fc
// at 0, fuse_conn starting with spinlock_t lock and refcount_t count.
// The requests themselves (opcode, unique, queue) stay unknown.

// howFuseMountFC and howFuseDevFC say how the types-free hops were made.
const (
	HowFuseMountFC = "sb->s_fs_info → struct fuse_mount, fc at offset 0 (5.10 fs/fuse/fuse_i.h), no FUSE types"
	HowFuseDevFC   = "fuse_dev.fc at offset 0 (5.10 fs/fuse/fuse_i.h), no FUSE types"
	// HowFuseConnOld is the pre-5.10 layout: s_fs_info is the fuse_conn.
	HowFuseConnOld = "sb->s_fs_info is the fuse_conn itself (its first word is no pointer: before 5.10), no FUSE types"
)

// typesFreeErr is the error every types-free connection carries.
const typesFreeErr = "no FUSE types (fuse module without BTF): connection state, queues and requests are not decoded; servers matched through fuse_dev.fc"

// fuseConnOfSBRaw returns the fuse_conn of a FUSE superblock without FUSE
// types: *(s_fs_info) when that first word is a kernel pointer (a struct
// fuse_mount, 5.10+), else s_fs_info itself (the fuse_conn, before 5.10).
func fuseConnOfSBRaw(p *symbols.Program, sb uint64) (uint64, string, error) {
	s, err := p.Object("struct super_block", sb)
	if err != nil {
		return 0, "", err
	}
	info, err := s.MemberUint("s_fs_info")
	if err != nil {
		return 0, "", fmt.Errorf("super_block %#x: %w", sb, err)
	}
	if info == 0 {
		return 0, "", fmt.Errorf("super_block %#x: s_fs_info is NULL (being torn down)", sb)
	}
	w0, err := p.ReadU64(info)
	if err != nil {
		return 0, "", fmt.Errorf("super_block %#x: s_fs_info %#x: %w", sb, info, err)
	}
	if kmem.IsKernelPointer(w0) {
		return w0, HowFuseMountFC, nil
	}
	return info, HowFuseConnOld, nil
}

// fuseMountInfo describes one FUSE superblock: fs type, source, mount points.
func fuseMountInfo(p *symbols.Program, sbp symbols.Object) FuseMountInfo {
	sb, _ := sbp.Uint()
	mi := FuseMountInfo{SuperBlock: sb}
	if sb == 0 {
		return mi
	}
	mi.Fs, mi.Source, _ = vfs.SuperBlockName(sbp)
	for _, m := range vfs.SuperBlockMounts(p, sb) {
		if path, ok := vfs.MountPath(p, m); ok {
			mi.MountPoints = append(mi.MountPoints, path)
		}
		if dn := vfs.MountDevName(p, m); dn != "" {
			mi.Source = dn
		}
	}
	return mi
}

// TypesFreeConns builds a FuseConn for every FUSE superblock, keyed by the
// fuse_conn address read as fuseConnOfSBRaw says (several superblocks may
// share one connection: submounts of virtiofs).
func TypesFreeConns(p *symbols.Program) ([]*FuseConn, []string) {
	sbs, err := FuseSuperBlocks(p)
	var errs []string
	if err != nil {
		errs = append(errs, err.Error())
	}
	sbType, terr := p.Type("struct super_block")
	if terr != nil {
		return nil, append(errs, terr.Error())
	}
	by := map[uint64]*FuseConn{}
	var out []*FuseConn
	for _, sb := range sbs {
		fc, how, err := fuseConnOfSBRaw(p, sb)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		s, err := p.Object("struct super_block", sb)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		dev, err := s.MemberUint("s_dev")
		if err != nil {
			errs = append(errs, fmt.Sprintf("super_block %#x: %v", sb, err))
			continue
		}
		c := by[fc]
		if c == nil {
			c = &FuseConn{Addr: fc, ID: uint32(dev), Remedy: FuseRemedy(uint32(dev)), TypesFree: true, ConnHow: how,
				Errors: []string{typesFreeErr}}
			by[fc] = c
			out = append(out, c)
		}
		c.Mounts = append(c.Mounts, fuseMountInfo(p, p.Value(symbols.PointerTo(sbType), sb)))
	}
	return out, errs
}

// fuseDevConnRaw reads fuse_dev.fc as the first word of the fuse_dev.
func fuseDevConnRaw(p *symbols.Program, fud uint64) uint64 {
	v, err := p.ReadU64(fud)
	if err != nil || !kmem.IsKernelPointer(v) {
		return 0
	}
	return v
}
