// Package block decodes the block layer: disks (struct gendisk), their
// request queues and in-flight accounting, block devices (struct
// block_device) and the file systems on them, bios, and device-mapper
// devices (struct mapped_device: the dm name from the ioctl interface's
// hash_cell, the DMF_* flags that say it is suspended, the table's
// targets, the bios deferred while it is suspended).
//
//	d, err := block.DiskOfInode(p, inode) // the disk under a file
//	if d.DM != nil && d.DM.Suspended { ... d.DM.Name, d.DM.Deferred ... }
//
// BlockDevices and Disks list the block class (disks and partitions, as
// /proc/partitions); CharMajors and BlockMajors the majors of
// /proc/devices; ReadQueue a request queue with its blk-mq hardware
// contexts and state (frozen, quiesced, dying); InFlightRequests the
// requests a disk's driver holds, found through the driver tags, each with
// its op, sector, size and age:
//
//	reqs, err := block.InFlightRequests(p, disk)
//	for _, r := range reqs { ... r.Op, r.Sector, r.Bytes, r.Age ... }
//
// ReadNBD decodes a network block device (drivers/block/nbd.c): its
// connections' sockets (which walkers/net resolves to the server process),
// whether they are dead, the request timeout, the client's pid and the
// runtime flags.
//
// Layouts are read from the dump's types (BTF, module BTF for dm_mod and nbd);
// device-mapper is a module, so its part is empty when dm_mod is not
// loaded or its types are missing. The kernel source file each layout
// comes from is named where it is read. Every list is bounded.
package block
