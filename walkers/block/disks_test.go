package block

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// TestBlockDevices lists the block class of a 5.10-shaped kernel (class->p,
// hd_struct embedded in the gendisk) and a 6.4+-shaped one (class_kset,
// the device in the block_device).
func TestBlockDevices(t *testing.T) {
	for _, modern := range []bool{false, true} {
		t.Run(fmt.Sprintf("bd_device=%v", modern), func(t *testing.T) {
			b := symtest.NewKernel()
			ty := b.Types
			M, P := symtest.M, symtest.Ptr
			kobj := ty.Add(symtest.Layout("kobject", M("name", P(b.Char)), M("entry", b.ListHead)))
			dev := ty.Add(symtest.Layout("device", M("kobj", kobj), M("parent", P(nil)), M("type", P(nil)), M("devt", b.U32)))
			kn := ty.Add(symtest.Layout("klist_node", M("n_klist", P(nil)), M("n_node", b.ListHead), M("n_ref", b.U32)))
			kl := ty.Add(symtest.Layout("klist", M("k_lock", b.U32), M("k_list", b.ListHead)))
			ty.Add(symtest.Layout("device_private", M("klist_children", kl), M("knode_class", kn), M("device", P(dev))))
			kset := ty.Add(symtest.Layout("kset", M("list", b.ListHead), M("kobj", kobj)))
			ty.Add(symtest.Layout("subsys_private", M("subsys", kset), M("klist_devices", kl), M("class", P(nil))))
			if modern {
				ty.Add(symtest.Layout("class", M("name", P(b.Char))))
				ty.Add(symtest.Layout("block_device", M("bd_nr_sectors", b.U64), M("bd_disk", P(nil)), M("bd_device", dev)))
				ty.Add(symtest.Layout("gendisk", M("major", b.S32), M("part0", P(nil))))
			} else {
				ty.Add(symtest.Layout("class", M("name", P(b.Char)), M("p", P(nil))))
				hd := ty.Add(symtest.Layout("hd_struct", M("start_sect", b.U64), M("nr_sects", b.U64), M("__dev", dev)))
				ty.Add(symtest.Layout("gendisk", M("major", b.S32), M("part0", hd)))
			}
			off := func(typ, m string) uint64 { return b.Off("struct "+typ, m) }
			class := b.NewObj("struct class")
			b.Syms.Add("block_class", class, 8, 'D')
			diskType, partType := b.Alloc(64), b.Alloc(64)
			b.Syms.Add("disk_type", diskType, 8, 'D')
			b.Syms.Add("part_type", partType, 8, 'D')
			sp := b.NewObj("struct subsys_private")
			b.Mem.WriteU64(sp+off("subsys_private", "class"), class)
			if modern {
				ks := b.NewObj("struct kset")
				b.ListInit(ks)
				ptr := b.Alloc(8)
				b.Mem.WriteU64(ptr, ks)
				b.Syms.Add("class_kset", ptr, 8, 'b')
				other := b.NewObj("struct subsys_private") // another class first
				b.ListAddTail(ks, other+off("subsys_private", "subsys.kobj.entry"))
				b.ListAddTail(ks, sp+off("subsys_private", "subsys.kobj.entry"))
			} else {
				b.Mem.WriteU64(class+off("class", "p"), sp)
			}
			head := sp + off("subsys_private", "klist_devices.k_list")
			b.ListInit(head)
			// add registers a class device; it returns (disk, device).
			add := func(name string, typ uint64, major, minor int, sectors uint64, disk uint64, dead bool) (uint64, uint64) {
				var d uint64
				if modern {
					bd := b.NewObj("struct block_device")
					b.Mem.WriteU64(bd+off("block_device", "bd_nr_sectors"), sectors)
					if disk == 0 {
						disk = b.NewObj("struct gendisk")
						b.Mem.WriteU64(disk+off("gendisk", "part0"), bd)
					}
					b.Mem.WriteU64(bd+off("block_device", "bd_disk"), disk)
					d = bd + off("block_device", "bd_device")
				} else if disk == 0 {
					disk = b.NewObj("struct gendisk")
					b.Mem.WriteU64(disk+off("gendisk", "part0.nr_sects"), sectors)
					d = disk + off("gendisk", "part0.__dev")
				} else {
					hd := b.NewObj("struct hd_struct")
					b.Mem.WriteU64(hd+off("hd_struct", "nr_sects"), sectors)
					d = hd + off("hd_struct", "__dev")
					b.Mem.WriteU64(d+off("device", "parent"), disk+off("gendisk", "part0.__dev"))
				}
				s := b.Alloc(32)
				b.Mem.WriteString(s, name)
				b.Mem.WriteU64(d+off("device", "kobj.name"), s)
				b.Mem.WriteU64(d+off("device", "type"), typ)
				b.Mem.WriteU32(d+off("device", "devt"), uint32(major<<20|minor))
				dp := b.NewObj("struct device_private")
				b.Mem.WriteU64(dp+off("device_private", "device"), d)
				knode := dp + off("device_private", "knode_class")
				if dead {
					b.Mem.WriteU64(knode, head|1) // KNODE_DEAD
				}
				b.ListAddTail(head, knode+off("klist_node", "n_node"))
				return disk, d
			}
			vda, vdaDev := add("vda", diskType, 253, 0, 2048, 0, false)
			_, vda1 := add("vda1", partType, 253, 1, 1024, vda, false)
			add("gone", diskType, 7, 0, 8, 0, true)
			add("card0", diskType+8, 226, 0, 0, 0, false) // another device type
			got, err := BlockDevices(b.Program())
			want := []BlockDev{{Device: vdaDev, Name: "vda", Major: 253, Minor: 0, Sectors: 2048, Disk: vda},
				{Device: vda1, Name: "vda1", Major: 253, Minor: 1, Sectors: 1024, Disk: vda, Partition: true}}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("BlockDevices =\n%+v, %v\nwant\n%+v", got, err, want)
			}
		})
	}
}
