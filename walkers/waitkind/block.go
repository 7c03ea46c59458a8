package waitkind

// BlockRef is, for a wait on block I/O, the device the I/O is on and
// what kwalk found of the I/O itself (package block decodes them; kinds
// copy what a report needs).
type BlockRef struct {
	// Device is the block device waited on ("dm-0", "vda1"), Disk its
	// disk's name and DiskAddr its struct gendisk, Dev "MAJOR:MINOR".
	Device   string `json:"device"`
	Disk     string `json:"disk"`
	DiskAddr uint64 `json:"disk_addr"`
	Dev      string `json:"dev"`
	// MQ: a blk-mq disk (requests); else bio-based.
	MQ bool `json:"mq"`
	// InFlight is the disk's in-flight count (reads, writes) for a
	// bio-based disk, when read.
	InFlight *[2]int64 `json:"in_flight,omitempty"`
	// IO says what the task waits for: "write-back of a page-cache
	// folio", "an O_DIRECT write", "a synchronous bio (submit_bio_wait)".
	IO string `json:"io"`
	// Bio is the bio found for the wait, when found.
	Bio *BioRef `json:"bio,omitempty"`
	// DM is set for device-mapper devices.
	DM *DMRef `json:"dm,omitempty"`
	// Server is set for a disk whose I/O a user-space server completes
	// over the network (a network block device).
	Server *ServerRef `json:"server,omitempty"`
}

// ServerRef is the server a network block device's requests wait for.
type ServerRef struct {
	// Protocol is "nbd" (drivers/block/nbd.c).
	Protocol string `json:"protocol"`
	// Conns are the device's connections: "TCP 127.0.0.1:40312 →
	// 127.0.0.1:10809", "unix socket", with " (dead)" for a failed one.
	Conns []string `json:"connections"`
	// Live is how many connections are not marked dead.
	Live int `json:"live"`
	// Remote: no connection's other end is on this machine; Unowned: it
	// is, but no process has it open.
	Remote  bool `json:"remote,omitempty"`
	Unowned bool `json:"unowned,omitempty"`
	// ClientPID is the process that set the device up and sleeps in
	// NBD_DO_IT (nbd-client), 0 when unknown or set up over netlink.
	ClientPID int `json:"client_pid,omitempty"`
	// NoTimeout: requests never time out (tag_set.timeout 0), so they
	// wait for the server for ever.
	NoTimeout bool `json:"no_timeout,omitempty"`
	// Disconnecting: a disconnect was requested or happened
	// (NBD_RT_DISCONNECT_REQUESTED, NBD_RT_DISCONNECTED).
	Disconnecting bool `json:"disconnecting,omitempty"`
	// Flags are the device's NBD_RT_* runtime flags.
	Flags []string `json:"flags,omitempty"`
}

// BioRef summarises a struct bio.
type BioRef struct {
	Addr   uint64 `json:"addr"`
	Op     string `json:"op"`
	Sector uint64 `json:"sector"`
	Size   uint32 `json:"size"`
	EndIO  string `json:"end_io,omitempty"`
	// Deferred: the bio is parked on its device-mapper device's deferred
	// list (the device is suspended).
	Deferred bool `json:"deferred,omitempty"`
}

// DMRef summarises a device-mapper device.
type DMRef struct {
	// Name and UUID are dmsetup's.
	Name string `json:"name"`
	UUID string `json:"uuid,omitempty"`
	// Flags are the DMF_* bits set (BLOCK_IO_FOR_SUSPEND, SUSPENDED, …).
	Flags []string `json:"flags,omitempty"`
	// Suspended: DMF_SUSPENDED or DMF_SUSPENDED_INTERNALLY; BlockingIO:
	// DMF_BLOCK_IO_FOR_SUSPEND (new bios are deferred until resume).
	Suspended  bool `json:"suspended"`
	BlockingIO bool `json:"blocking_io"`
	// Table is the live table, one target per entry: "linear 0+32768 loop0 (7:0) 0".
	Table []string `json:"table,omitempty"`
	// Deferred is how many bios wait on the deferred list (DeferredMore:
	// more than were read); PendingIO the device's count of bios in
	// progress (6.0+), when read.
	Deferred     int    `json:"deferred"`
	DeferredMore bool   `json:"deferred_more,omitempty"`
	PendingIO    *int64 `json:"pending_io,omitempty"`
}
