package block

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Disk is a struct gendisk (include/linux/blkdev.h; genhd.h in 5.10).
type Disk struct {
	Addr uint64 `json:"addr"`
	// Name is disk_name: "dm-0", "loop0", "vda".
	Name       string `json:"name"`
	Major      int    `json:"major"`
	FirstMinor int    `json:"first_minor"`
	Queue      uint64 `json:"queue"`
	// MQ: the queue is blk-mq (request_queue.mq_ops set): its I/O is
	// requests on hardware queues. Otherwise the disk is bio-based
	// (device-mapper, md, zram, …): bios go straight to its driver.
	MQ bool `json:"mq"`
	// Ops names disk->fops (dm_blk_dops, lo_fops, virtblk_fops); OpsModule
	// is the module that owns them (fops->owner: "dm_mod", "loop", "nbd";
	// "" for built-in code), which names the driver where kallsyms has no
	// data symbols (a kernel without CONFIG_KALLSYMS_ALL keeps none for
	// modules either).
	Ops       string `json:"ops,omitempty"`
	OpsModule string `json:"ops_module,omitempty"`
	// InFlight is the block layer's count of I/O started on the whole
	// disk and not yet ended (reads, writes): the per-CPU part_stat
	// in_flight of part0 (block/blk-core.c bdev_start_io_acct), what
	// /sys/block/NAME/inflight shows for a bio-based disk. nil when not
	// read; blk-mq disks count requests instead (not summed here).
	InFlight *[2]int64 `json:"in_flight,omitempty"`
	// DM is the device-mapper device behind a dm disk.
	DM *MappedDevice `json:"dm,omitempty"`
	// Errors are members that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// Driver reports whether the disk's operations are ops, by their symbol
// or, without one, by the module that owns them.
func (d *Disk) Driver(ops, module string) bool {
	return d.Ops == ops || d.Ops == "" && d.OpsModule == module
}

// Label names the disk for reports: "dm-0 (dm kwalk-stuck)".
func (d *Disk) Label() string {
	if d.DM != nil && d.DM.Name != "" {
		return fmt.Sprintf("%s (dm %s)", d.Name, d.DM.Name)
	}
	return d.Name
}

// ReadDisk decodes the gendisk at addr, and the device-mapper device
// behind it when it is one.
func ReadDisk(p *symbols.Program, addr uint64) (*Disk, error) {
	o, err := p.Object("struct gendisk", addr)
	if err != nil {
		return nil, fmt.Errorf("gendisk %#x: %w", addr, err)
	}
	d := &Disk{Addr: addr}
	if d.Name, err = o.MemberString("disk_name"); err != nil {
		return nil, fmt.Errorf("gendisk %#x: %w", addr, err)
	}
	get := func(m string) uint64 {
		v, err := o.MemberUint(m)
		if err != nil {
			d.Errors = append(d.Errors, err.Error())
		}
		return v
	}
	d.Major, d.FirstMinor = int(int32(get("major"))), int(int32(get("first_minor")))
	d.Queue = get("queue")
	if fops := get("fops"); fops != 0 {
		d.Ops = symbolName(p, fops)
		if f, err := p.Object("struct block_device_operations", fops); err == nil {
			if owner, err := f.MemberUint("owner"); err == nil && owner != 0 {
				if m, err := p.Object("struct module", owner); err == nil {
					d.OpsModule, _ = m.MemberString("name")
				}
			}
		}
	}
	if d.Queue != 0 {
		if q, err := p.Object("struct request_queue", d.Queue); err == nil {
			if ops, err := q.MemberUint("mq_ops"); err == nil {
				d.MQ = ops != 0
			}
		}
	}
	if !d.MQ {
		if in, err := diskInFlight(p, o); err == nil {
			d.InFlight = &in
		} else if !errors.Is(err, symbols.ErrNoMember) {
			d.Errors = append(d.Errors, err.Error())
		}
	}
	if md, ok, err := mappedDeviceOf(p, d); err != nil {
		d.Errors = append(d.Errors, err.Error())
	} else if ok {
		d.DM = md
	}
	return d, nil
}

// symbolName names a kernel address by its symbol, "" when it has none.
func symbolName(p *symbols.Program, addr uint64) string {
	if p.Syms == nil {
		return ""
	}
	if s, off, ok := p.Syms.LookupAddr(addr); ok && off == 0 {
		return s.Name
	}
	return ""
}

// diskInFlight sums the per-CPU in_flight[READ, WRITE] of the disk's
// whole-device statistics: part0->bd_stats (6.0+, struct block_device)
// or part0.dkstats (5.10, struct hd_struct); include/linux/part_stat.h.
func diskInFlight(p *symbols.Program, disk symbols.Object) ([2]int64, error) {
	var in [2]int64
	var stats uint64
	var err error
	switch {
	case disk.Type().HasMember("part0") && hasMember(p, "struct block_device", "bd_stats"):
		stats, err = disk.MemberUint("part0->bd_stats")
	case hasMember(p, "struct hd_struct", "dkstats"):
		stats, err = disk.MemberUint("part0.dkstats")
	default:
		return in, fmt.Errorf("disk statistics: %w", symbols.ErrNoMember)
	}
	if err != nil {
		return in, err
	}
	off, err := p.OffsetOf("struct disk_stats", "in_flight")
	if err != nil {
		return in, err
	}
	cpus, err := p.PossibleCPUs()
	if err != nil {
		return in, err
	}
	for _, cpu := range cpus {
		a, err := p.PerCPUAddr(stats+off, cpu)
		if err != nil {
			return in, err
		}
		for i := range in {
			v, err := p.ReadU64(a + uint64(i)*8) // local_t: one long
			if err != nil {
				return in, fmt.Errorf("disk_stats.in_flight of cpu %d: %w", cpu, err)
			}
			in[i] += int64(v)
		}
	}
	return in, nil
}

func hasMember(p *symbols.Program, typ, member string) bool {
	t, err := p.Type(typ)
	return err == nil && t.HasMember(member)
}

// Bdev is a struct block_device: a whole disk or a partition.
type Bdev struct {
	Addr uint64 `json:"addr"`
	// Dev is "MAJOR:MINOR" (bd_dev).
	Dev    string `json:"dev"`
	Disk   uint64 `json:"disk"`
	PartNo int    `json:"partno,omitempty"`
}

// minorBits is MINORBITS (include/linux/kdev_t.h): dev_t is major << 20 | minor.
const minorBits = 20

// ReadBdev decodes the block_device at addr.
func ReadBdev(p *symbols.Program, addr uint64) (*Bdev, error) {
	o, err := p.Object("struct block_device", addr)
	if err != nil {
		return nil, fmt.Errorf("block_device %#x: %w", addr, err)
	}
	b := &Bdev{Addr: addr}
	dev, err := o.MemberUint("bd_dev")
	if err != nil {
		return nil, fmt.Errorf("block_device %#x: %w", addr, err)
	}
	b.Dev = fmt.Sprintf("%d:%d", dev>>minorBits, dev&(1<<minorBits-1))
	if b.Disk, err = o.MemberUint("bd_disk"); err != nil {
		return nil, fmt.Errorf("block_device %#x: %w", addr, err)
	}
	// bd_partno (≤ 6.9); 6.10+ keep it in __bd_flags' low byte
	// (include/linux/blk_types.h BD_PARTNO).
	if v, err := o.MemberUint("bd_partno"); err == nil {
		b.PartNo = int(v)
	} else if v, err := o.MemberUint("__bd_flags"); err == nil {
		b.PartNo = int(v & 0xff)
	}
	return b, nil
}

// Name is the block device's name: the disk's, with the partition number
// ("vda1"; "nvme0n1p1" when the disk name ends in a digit).
func (b *Bdev) Name(d *Disk) string {
	if b.PartNo == 0 || d == nil {
		if d != nil {
			return d.Name
		}
		return b.Dev
	}
	if n := d.Name; n != "" && strings.ContainsAny(n[len(n)-1:], "0123456789") {
		return fmt.Sprintf("%sp%d", n, b.PartNo)
	}
	return fmt.Sprintf("%s%d", d.Name, b.PartNo)
}

// BdevOfInode returns the block device a file's data lives on: its
// superblock's s_bdev (fs/super.c, set for file systems on a block
// device), or, for the page cache of a block device itself (a write to
// /dev/dm-0), the block device whose inode it is (block/bdev.c struct
// bdev_inode { bdev; vfs_inode }, the inodes of blockdev_superblock).
// 0 when the file is on no block device (tmpfs, FUSE, NFS).
func BdevOfInode(p *symbols.Program, inode uint64) (uint64, error) {
	in, err := p.Object("struct inode", inode)
	if err != nil {
		return 0, fmt.Errorf("inode %#x: %w", inode, err)
	}
	sb, err := in.MemberUint("i_sb")
	if err != nil {
		return 0, fmt.Errorf("inode %#x: %w", inode, err)
	}
	if bsb, err := blockdevSuper(p); err == nil && bsb != 0 && sb == bsb {
		bi, err := p.ContainerOf(inode, "struct bdev_inode", "vfs_inode")
		if err != nil {
			return 0, fmt.Errorf("block device inode %#x: %w", inode, err)
		}
		off, err := p.OffsetOf("struct bdev_inode", "bdev")
		if err != nil {
			return 0, err
		}
		return bi.Addr() + off, nil
	}
	s, err := p.Object("struct super_block", sb)
	if err != nil {
		return 0, fmt.Errorf("inode %#x: superblock: %w", inode, err)
	}
	return s.MemberUint("s_bdev")
}

// blockdevSuper reads blockdev_superblock (block/bdev.c; fs/block_dev.c
// in 5.10): the pseudo file system of block device inodes.
func blockdevSuper(p *symbols.Program) (uint64, error) {
	a, err := p.Symbol("blockdev_superblock")
	if err != nil {
		return 0, err
	}
	return p.ReadU64(a)
}

// Device is a block device with its disk, what a wait on I/O is about.
type Device struct {
	Bdev *Bdev `json:"bdev"`
	Disk *Disk `json:"disk"`
}

// Name is the block device's name ("dm-0", "vda1").
func (d *Device) Name() string { return d.Bdev.Name(d.Disk) }

// DeviceOf decodes the block device at bdev and its disk.
func DeviceOf(p *symbols.Program, bdev uint64) (*Device, error) {
	b, err := ReadBdev(p, bdev)
	if err != nil {
		return nil, err
	}
	if b.Disk == 0 {
		return nil, fmt.Errorf("block_device %#x (%s): no disk", bdev, b.Dev)
	}
	d, err := ReadDisk(p, b.Disk)
	if err != nil {
		return nil, err
	}
	return &Device{Bdev: b, Disk: d}, nil
}

// DeviceOfInode is the block device a file's data lives on (BdevOfInode)
// with its disk; nil, nil when the file is on no block device.
func DeviceOfInode(p *symbols.Program, inode uint64) (*Device, error) {
	bdev, err := BdevOfInode(p, inode)
	if err != nil || bdev == 0 {
		return nil, err
	}
	return DeviceOf(p, bdev)
}
