package block

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// BlockDev is a disk or a partition as the block class lists it: a line
// of /proc/partitions.
type BlockDev struct {
	// Device is the struct device (gendisk part0's, or the partition's).
	Device uint64 `json:"device"`
	Name   string `json:"name"`
	Major  int    `json:"major"`
	Minor  int    `json:"minor"`
	// Sectors is the capacity in 512-byte sectors.
	Sectors uint64 `json:"sectors"`
	// Disk is the struct gendisk (of the partition's disk for a partition).
	Disk      uint64 `json:"disk"`
	Partition bool   `json:"partition,omitempty"`
}

// maxClassDevices bounds the walk of a class's devices.
const maxClassDevices = 1 << 16

// BlockDevices returns the disks and partitions of the block class in the
// order they were registered (drivers/base/class.c class_dev_iter over
// the class's klist_devices; block/genhd.c disk_type and part_type tell
// disks from partitions). The class's subsys_private is class->p up to
// 6.3 and, from 6.4, the one on class_kset whose class is block_class
// (drivers/base/class.c class_to_subsys). A disk is the device embedded
// in its part0 block_device (6.0+: bd_device, bd_disk) or hd_struct
// (5.10: gendisk.part0.__dev).
func BlockDevices(p *symbols.Program) ([]BlockDev, error) {
	class, err := p.Symbol("block_class")
	if err != nil {
		return nil, err
	}
	devs, err := classDevices(p, class)
	var out []BlockDev
	diskType, _ := p.Symbol("disk_type")
	partType, _ := p.Symbol("part_type")
	for _, dev := range devs {
		d, err2 := p.Object("struct device", dev)
		if err2 != nil {
			return out, err2
		}
		typ, _ := d.MemberUint("type")
		if typ == 0 || (typ != diskType && typ != partType) {
			continue
		}
		b := BlockDev{Device: dev, Partition: typ == partType}
		if nameAddr, err := d.MemberUint("kobj.name"); err == nil && nameAddr != 0 {
			b.Name, _ = p.ReadString(nameAddr, 64)
		}
		if devt, err := d.MemberUint("devt"); err == nil {
			b.Major, b.Minor = int(devt>>minorBits), int(devt&(1<<minorBits-1))
		}
		b.Disk, b.Sectors, err2 = diskAndSize(p, dev, b.Partition)
		if err2 != nil && err == nil {
			err = fmt.Errorf("block device %s (device %#x): %w", b.Name, dev, err2)
		}
		out = append(out, b)
	}
	return out, err
}

// Disks returns the disks of the block class (not their partitions),
// decoded by ReadDisk, in registration order.
func Disks(p *symbols.Program) ([]*Disk, error) {
	devs, err := BlockDevices(p)
	var out []*Disk
	for _, b := range devs {
		if b.Partition || b.Disk == 0 {
			continue
		}
		d, err2 := ReadDisk(p, b.Disk)
		if err2 != nil {
			if err == nil {
				err = err2
			}
			continue
		}
		out = append(out, d)
	}
	return out, err
}

// diskAndSize finds the gendisk and the capacity of a block class device.
func diskAndSize(p *symbols.Program, dev uint64, partition bool) (disk, sectors uint64, err error) {
	if off, err := p.OffsetOf("struct block_device", "bd_device"); err == nil {
		// 6.0+: block/bdev.c, the device is bdev->bd_device.
		bd, err := p.Object("struct block_device", dev-off)
		if err != nil {
			return 0, 0, err
		}
		if disk, err = bd.MemberUint("bd_disk"); err != nil {
			return 0, 0, err
		}
		if sectors, err = bd.MemberUint("bd_nr_sectors"); err != nil {
			return disk, 0, err
		}
		return disk, sectors, nil
	}
	// 5.10: the device is hd_struct.__dev; a disk's hd_struct is its part0.
	off, err := p.OffsetOf("struct hd_struct", "__dev")
	if err != nil {
		return 0, 0, err
	}
	hd, err := p.Object("struct hd_struct", dev-off)
	if err != nil {
		return 0, 0, err
	}
	if sectors, err = hd.MemberUint("nr_sects"); err != nil {
		return 0, 0, err
	}
	if !partition {
		p0, err := p.OffsetOf("struct gendisk", "part0")
		if err != nil {
			return 0, sectors, err
		}
		return dev - off - p0, sectors, nil
	}
	// A partition's disk: part_to_disk, its parent device is the disk's.
	parent, err := hd.MemberUint("__dev.parent")
	if err != nil || parent == 0 {
		return 0, sectors, err
	}
	p0, err := p.OffsetOf("struct gendisk", "part0.__dev")
	if err != nil {
		return 0, sectors, err
	}
	return parent - p0, sectors, nil
}

// classDevices returns the struct device addresses of the class at class,
// from its subsys_private's klist_devices (live nodes only).
func classDevices(p *symbols.Program, class uint64) ([]uint64, error) {
	sp, err := classSubsys(p, class)
	if err != nil {
		return nil, err
	}
	headOff, err := p.OffsetOf("struct subsys_private", "klist_devices.k_list")
	if err != nil {
		return nil, err
	}
	nodeOff, err := p.OffsetOf("struct klist_node", "n_node")
	if err != nil {
		return nil, err
	}
	knodeOff, err := p.OffsetOf("struct device_private", "knode_class")
	if err != nil {
		return nil, err
	}
	devOff, err := p.OffsetOf("struct device_private", "device")
	if err != nil {
		return nil, err
	}
	nodes, err := kmem.ListHeadNodes(p, sp+headOff, fmt.Sprintf("class %#x klist_devices", class), maxClassDevices)
	var out []uint64
	for _, n := range nodes {
		kn := n - nodeOff
		kl, err2 := p.ReadU64(kn) // n_klist, bit 0: KNODE_DEAD (lib/klist.c)
		if err2 != nil {
			return out, err2
		}
		if kl&1 != 0 {
			continue
		}
		dev, err2 := p.ReadU64(kn - knodeOff + devOff)
		if err2 != nil {
			return out, err2
		}
		if dev != 0 {
			out = append(out, dev)
		}
	}
	return out, err
}

// classSubsys finds a class's struct subsys_private.
func classSubsys(p *symbols.Program, class uint64) (uint64, error) {
	if ct, err := p.Type("struct class"); err == nil && ct.HasMember("p") {
		c := p.ObjectAt(ct, class)
		return c.MemberUint("p")
	}
	ksetPtr, err := p.Symbol("class_kset")
	if err != nil {
		return 0, err
	}
	kset, err := p.ReadU64(ksetPtr)
	if err != nil {
		return 0, fmt.Errorf("class_kset: %w", err)
	}
	listOff, err := p.OffsetOf("struct kset", "list")
	if err != nil {
		return 0, err
	}
	entryOff, err := p.OffsetOf("struct subsys_private", "subsys.kobj.entry")
	if err != nil {
		return 0, err
	}
	classOff, err := p.OffsetOf("struct subsys_private", "class")
	if err != nil {
		return 0, err
	}
	nodes, err := kmem.ListHeadNodes(p, kset+listOff, "class_kset", maxClassDevices)
	for _, n := range nodes {
		sp := n - entryOff
		if c, err := p.ReadU64(sp + classOff); err == nil && c == class {
			return sp, nil
		}
	}
	if err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("class %#x: not on class_kset", class)
}
