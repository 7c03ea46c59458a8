package block

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// MappedDevice is a device-mapper device: struct mapped_device
// (drivers/md/dm-core.h; its types come from dm_mod's module BTF).
type MappedDevice struct {
	Addr uint64 `json:"addr"`
	// Name and UUID are what dmsetup shows (the ioctl interface's struct
	// hash_cell, drivers/md/dm-ioctl.c, at md->interface_ptr); "" for a
	// device the interface has not named.
	Name string `json:"name"`
	UUID string `json:"uuid,omitempty"`
	// Dev is md->name, "MAJOR:MINOR".
	Dev string `json:"dev"`
	// Flags is md->flags; FlagNames its DMF_* bits.
	Flags     uint64   `json:"flags"`
	FlagNames []string `json:"flag_names,omitempty"`
	// Suspended: DMF_SUSPENDED (dmsetup suspend) or DMF_SUSPENDED_INTERNALLY.
	Suspended bool `json:"suspended"`
	// BlockingIO: DMF_BLOCK_IO_FOR_SUSPEND, set from the start of a
	// suspend until the resume: new bios wait on md->deferred.
	BlockingIO bool `json:"blocking_io"`
	// Type is the table's queue mode: "bio-based", "request-based", …
	Type    string   `json:"type,omitempty"`
	Targets []Target `json:"targets,omitempty"`
	// Deferred are the bios parked on md->deferred (drivers/md/dm.c
	// queue_io): submitted while I/O is blocked for a suspend, issued
	// when the device is resumed. DeferredMore: the list goes on past
	// what was read.
	Deferred     []Bio `json:"deferred,omitempty"`
	DeferredMore bool  `json:"deferred_more,omitempty"`
	// PendingIO is the sum of the per-CPU md->pending_io (6.0+): bios
	// dm has started and not ended. nil when the kernel has no such count.
	PendingIO *int64   `json:"pending_io,omitempty"`
	Errors    []string `json:"errors,omitempty"`
}

// Target is one line of a device-mapper table (struct dm_target).
type Target struct {
	// Type is the target type's name: "linear", "striped", "crypt", …
	Type string `json:"type"`
	// Start and Len are the sectors of the device it maps.
	Start uint64 `json:"start"`
	Len   uint64 `json:"len"`
	// Dev is, for a linear target, the device it maps onto ("loop0 (7:0)")
	// and Offset the sector there (drivers/md/dm-linear.c struct linear_c).
	Dev    string `json:"dev,omitempty"`
	Offset uint64 `json:"offset,omitempty"`
}

// DMF_* bits of mapped_device.flags: defined in drivers/md/dm.c in 5.10
// and in drivers/md/dm-core.h since, with the same numbers through 7.1
// (EMULATE_ZONE_APPEND from 5.13, QUEUE_STOPPED in 7.1).
const (
	dmfBlockIOForSuspend  = 0
	dmfSuspended          = 1
	dmfSuspendedInternaly = 7
)

var dmfNames = []string{"BLOCK_IO_FOR_SUSPEND", "SUSPENDED", "FROZEN", "FREEING", "DELETING",
	"NOFLUSH_SUSPENDING", "DEFERRED_REMOVE", "SUSPENDED_INTERNALLY", "POST_SUSPENDING",
	"EMULATE_ZONE_APPEND", "QUEUE_STOPPED"}

// DMFlagNames names the DMF_* bits set in flags ("BIT13" for unknown ones).
func DMFlagNames(flags uint64) []string {
	var out []string
	for b := 0; b < 64; b++ {
		if flags&(1<<b) == 0 {
			continue
		}
		if b < len(dmfNames) {
			out = append(out, dmfNames[b])
		} else {
			out = append(out, fmt.Sprintf("BIT%d", b))
		}
	}
	return out
}

// maxDeferred bounds the deferred bios read per device.
const maxDeferred = 1024

// maxTargets bounds the targets read per table.
const maxTargets = 4096

// mappedDeviceOf returns the device-mapper device behind disk d: a
// gendisk's private_data is its mapped_device (drivers/md/dm.c alloc_dev),
// believed when the device's disk points back at d. ok is false for
// disks of other drivers and when dm's types are not known.
func mappedDeviceOf(p *symbols.Program, d *Disk) (*MappedDevice, bool, error) {
	t, err := p.Type("struct mapped_device")
	if err != nil || !t.HasMember("disk") {
		return nil, false, nil
	}
	if d.Ops != "" && d.Ops != "dm_blk_dops" || d.Ops == "" && d.OpsModule != "" && d.OpsModule != "dm_mod" {
		return nil, false, nil
	}
	disk, err := p.Object("struct gendisk", d.Addr)
	if err != nil {
		return nil, false, err
	}
	priv, err := disk.MemberUint("private_data")
	if err != nil || priv == 0 {
		return nil, false, err
	}
	md, err := p.Object("struct mapped_device", priv)
	if err != nil {
		return nil, false, nil
	}
	if back, err := md.MemberUint("disk"); err != nil || back != d.Addr {
		return nil, false, nil
	}
	m, err := ReadMappedDevice(p, priv)
	return m, err == nil, err
}

// ReadMappedDevice decodes the mapped_device at addr.
func ReadMappedDevice(p *symbols.Program, addr uint64) (*MappedDevice, error) {
	o, err := p.Object("struct mapped_device", addr)
	if err != nil {
		return nil, fmt.Errorf("mapped_device %#x: %w", addr, err)
	}
	m := &MappedDevice{Addr: addr}
	if m.Flags, err = o.MemberUint("flags"); err != nil {
		return nil, fmt.Errorf("mapped_device %#x: %w", addr, err)
	}
	m.FlagNames = DMFlagNames(m.Flags)
	m.Suspended = m.Flags&(1<<dmfSuspended|1<<dmfSuspendedInternaly) != 0
	m.BlockingIO = m.Flags&(1<<dmfBlockIOForSuspend) != 0
	m.Dev, _ = o.MemberString("name")
	note := func(err error) {
		if err != nil {
			m.Errors = append(m.Errors, err.Error())
		}
	}
	// The name dmsetup knows: interface_ptr is the device's hash_cell
	// while it is registered (drivers/md/dm-ioctl.c dm_hash_insert).
	if hc, err := o.MemberUint("interface_ptr"); err == nil && hc != 0 {
		if c, err := p.Object("struct hash_cell", hc); err == nil {
			if cm, err := c.MemberUint("md"); err == nil && cm == addr {
				m.Name, err = cellString(p, c, "name")
				note(err)
				m.UUID, _ = cellString(p, c, "uuid")
			}
		}
	}
	if mode, err := o.Member("type"); err == nil {
		m.Type = queueMode(mode)
	}
	if mp, err := o.MemberUint("map"); err == nil && mp != 0 {
		ts, err := readTable(p, mp)
		note(err)
		m.Targets = ts
	}
	if head, err := o.MemberUint("deferred.head"); err == nil && head != 0 {
		bios, more, err := BioChain(p, head, maxDeferred)
		note(err)
		m.Deferred, m.DeferredMore = bios, more
	}
	if o.Type().HasMember("pending_io") {
		n, err := perCPUSum(p, o, "pending_io")
		if err == nil {
			m.PendingIO = &n
		}
		note(err)
	}
	return m, nil
}

func cellString(p *symbols.Program, c symbols.Object, member string) (string, error) {
	a, err := c.MemberUint(member)
	if err != nil || a == 0 {
		return "", err
	}
	return p.ReadString(a, 256)
}

// queueMode names enum dm_queue_mode (include/linux/device-mapper.h):
// DM_TYPE_BIO_BASED → "bio-based".
func queueMode(o symbols.Object) string {
	v, err := o.Uint()
	if err != nil {
		return ""
	}
	if t := o.Type().Resolve(); t != nil {
		for _, e := range t.Enumerators {
			if uint64(e.Value) == v {
				return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(e.Name, "DM_TYPE_"), "_", "-"))
			}
		}
	}
	return fmt.Sprint(v)
}

// readTable reads the targets of a struct dm_table (drivers/md/dm-core.h):
// targets[num_targets], each with its type's name; for linear targets
// the device under it (drivers/md/dm-linear.c struct linear_c).
func readTable(p *symbols.Program, table uint64) ([]Target, error) {
	t, err := p.Object("struct dm_table", table)
	if err != nil {
		return nil, fmt.Errorf("dm_table %#x: %w", table, err)
	}
	n, err := t.MemberUint("num_targets")
	if err != nil {
		return nil, err
	}
	if n > maxTargets {
		return nil, fmt.Errorf("dm_table %#x: %d targets (more than %d)", table, n, maxTargets)
	}
	arr, err := t.MemberUint("targets")
	if err != nil {
		return nil, err
	}
	size, err := p.SizeOf("struct dm_target")
	if err != nil {
		return nil, err
	}
	var out []Target
	for i := uint64(0); i < n; i++ {
		ti, err := p.Object("struct dm_target", arr+i*size)
		if err != nil {
			return out, err
		}
		var tg Target
		tg.Start, _ = ti.MemberUint("begin")
		tg.Len, _ = ti.MemberUint("len")
		if tt, err := ti.MemberUint("type->name"); err == nil && tt != 0 {
			tg.Type, _ = p.ReadString(tt, 64)
		}
		if tg.Type == "linear" {
			tg.Dev, tg.Offset = linearDev(p, ti)
		}
		out = append(out, tg)
	}
	return out, nil
}

// linearDev names the device under a linear target and the sector it
// starts at there.
func linearDev(p *symbols.Program, ti symbols.Object) (string, uint64) {
	priv, err := ti.MemberUint("private")
	if err != nil || priv == 0 {
		return "", 0
	}
	lc, err := p.Object("struct linear_c", priv)
	if err != nil {
		return "", 0
	}
	start, _ := lc.MemberUint("start")
	bdev, err := lc.MemberUint("dev->bdev")
	if err != nil || bdev == 0 {
		name, _ := lc.MemberString("dev->name")
		return name, start
	}
	b, err := ReadBdev(p, bdev)
	if err != nil {
		return "", start
	}
	name := b.Dev
	if b.Disk != 0 {
		if d, err := p.Object("struct gendisk", b.Disk); err == nil {
			if dn, err := d.MemberString("disk_name"); err == nil {
				name = fmt.Sprintf("%s (%s)", b.Name(&Disk{Name: dn}), b.Dev)
			}
		}
	}
	return name, start
}

// perCPUSum sums a per-CPU unsigned long that o's member points to.
func perCPUSum(p *symbols.Program, o symbols.Object, member string) (int64, error) {
	ptr, err := o.MemberUint(member)
	if err != nil {
		return 0, err
	}
	if ptr == 0 {
		return 0, fmt.Errorf("%s: no per-CPU counter", member)
	}
	cpus, err := p.PossibleCPUs()
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, cpu := range cpus {
		a, err := p.PerCPUAddr(ptr, cpu)
		if err != nil {
			return 0, err
		}
		v, err := p.ReadU64(a)
		if err != nil {
			return 0, fmt.Errorf("%s of cpu %d: %w", member, cpu, err)
		}
		sum += int64(v)
	}
	return sum, nil
}
