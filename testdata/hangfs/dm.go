package main

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Device-mapper control ioctls (include/uapi/linux/dm-ioctl.h), what
// dmsetup create/suspend/resume do: every call passes a struct dm_ioctl
// followed by its data on /dev/mapper/control.

// dmVersion is the interface version asked for: major 4 is required, the
// kernel accepts any minor up to its own (drivers/md/dm-ioctl.c
// check_version).
var dmVersion = [3]uint32{4, 0, 0}

const dmIoctlSize = int(unsafe.Sizeof(unix.DmIoctl{}))

// dmIoctl runs one control command on the device named name, with data
// after the header; it returns the header the kernel wrote back.
func dmIoctl(ctl int, cmd uint, name string, flags uint32, targets uint32, data []byte) (unix.DmIoctl, error) {
	buf := make([]byte, dmIoctlSize+len(data)+16<<10) // room for what the kernel returns
	h := (*unix.DmIoctl)(unsafe.Pointer(&buf[0]))
	h.Version = dmVersion
	h.Data_size = uint32(len(buf))
	h.Data_start = uint32(dmIoctlSize)
	h.Flags = flags
	h.Target_count = targets
	if len(name) >= len(h.Name) {
		return unix.DmIoctl{}, fmt.Errorf("dm name %q too long", name)
	}
	copy(h.Name[:], name)
	copy(buf[dmIoctlSize:], data)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(ctl), uintptr(cmd), uintptr(unsafe.Pointer(&buf[0]))); errno != 0 {
		return unix.DmIoctl{}, fmt.Errorf("dm ioctl %#x on %s: %w", cmd, name, errno)
	}
	return *h, nil
}

// dmCreate creates an empty mapped device (DM_DEV_CREATE) and returns its
// device number.
func dmCreate(ctl int, name string) (uint64, error) {
	h, err := dmIoctl(ctl, unix.DM_DEV_CREATE, name, 0, 0, nil)
	if err != nil {
		return 0, err
	}
	// dev is huge_encode_dev(disk_devt): major << 20 | minor, with the
	// high minor bits above (include/linux/kdev_t.h new_encode_dev).
	return unix.Mkdev(uint32((h.Dev&0xfff00)>>8), uint32((h.Dev&0xff)|((h.Dev>>12)&0xfff00))), nil
}

// dmLoadLinear loads (DM_TABLE_LOAD, inactive until resumed) a table of
// one linear target mapping sectors to the start of device dev
// ("MAJOR:MINOR").
func dmLoadLinear(ctl int, name string, sectors uint64, dev string) error {
	params := dev + " 0\x00"
	specSize := int(unsafe.Sizeof(unix.DmTargetSpec{}))
	data := make([]byte, (specSize+len(params)+7)&^7)
	spec := (*unix.DmTargetSpec)(unsafe.Pointer(&data[0]))
	spec.Sector_start = 0
	spec.Length = sectors
	spec.Next = uint32(len(data))
	copy(spec.Target_type[:], "linear")
	copy(data[specSize:], params)
	_, err := dmIoctl(ctl, unix.DM_TABLE_LOAD, name, 0, 1, data)
	return err
}

// dmSuspend suspends the device (DM_DEV_SUSPEND with DM_SUSPEND_FLAG and
// flags) or resumes it, which makes a loaded table live.
func dmSuspend(ctl int, name string, suspend bool, flags uint32) error {
	if suspend {
		flags |= unix.DM_SUSPEND_FLAG
	}
	_, err := dmIoctl(ctl, unix.DM_DEV_SUSPEND, name, flags, 0, nil)
	return err
}
