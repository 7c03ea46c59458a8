package mm_test

import (
	"context"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/mm"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestIdentifyRealDump: kmem ADDR on addresses whose nature the dump
// itself tells: a task_struct is an allocated object of the task_struct
// cache, an address in a task's stack is that task's stack, init_task is
// a kernel symbol, a vmalloc area's start is in that area.
func TestIdentifyRealDump(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			needX86Kernel(t, p)
			ctx := context.Background()
			task, err := sched.TaskByPID(p, 1)
			if err != nil {
				t.Fatal(err)
			}
			id, err := mm.Identify(ctx, p, task.Addr+8)
			if err != nil {
				t.Fatal(err)
			}
			if id.Kind != mm.KindSlab || id.Cache != "task_struct" || id.Object != task.Addr || id.Offset != 8 || id.State != "allocated" {
				t.Errorf("task_struct of pid 1 + 8: %+v", id)
			}
			stack, err := task.Obj.MemberUint("stack")
			if err != nil {
				t.Fatal(err)
			}
			if id, err = mm.Identify(ctx, p, stack+0x100); err != nil {
				t.Fatal(err)
			}
			if id.Kind != mm.KindStack || id.PID != 1 || id.Offset != 0x100 {
				t.Errorf("stack of pid 1: %+v", id)
			}
			a, err := p.Symbol("init_task")
			if err != nil {
				t.Fatal(err)
			}
			if id, err = mm.Identify(ctx, p, a+16); err != nil {
				t.Fatal(err)
			}
			if id.Kind != mm.KindSymbol || id.Symbol != "init_task+0x10" {
				t.Errorf("init_task+16: %+v", id)
			}
			// module text (vmalloc'ed) names the module and symbol
			if ms, err := p.Syms.Lookup("fuse_get_unique"); err == nil && ms.Module == "fuse" {
				if id, err = mm.Identify(ctx, p, ms.Addr+1); err != nil {
					t.Fatal(err)
				}
				if id.Kind != mm.KindModule || id.Module != "fuse" || id.Symbol != "fuse_get_unique+0x1" || id.Vmap == nil {
					t.Errorf("fuse_get_unique+1: %+v", id)
				}
			}
			areas, err := mm.VmapAreas(p)
			if err != nil || len(areas) == 0 {
				t.Fatalf("vmalloc areas: %d, %v", len(areas), err)
			}
			for _, va := range areas[:min(5, len(areas))] {
				if id, err = mm.Identify(ctx, p, va.Start); err != nil {
					t.Fatal(err)
				}
				if (id.Kind != mm.KindVmalloc && id.Kind != mm.KindStack) || id.Vmap == nil || id.Vmap.Start != va.Start {
					t.Errorf("vmalloc area %#x: %+v", va.Start, id)
				}
			}
		})
	}
}

// TestCacheSlabsRealDump: the slabs found in the memory map ("kmem -S")
// are exactly those the nodes count (nr_slabs, total_objects), and the
// objects their freelists leave allocated are no more than the nodes'
// active count (which counts objects free on a CPU's slab as active).
func TestCacheSlabsRealDump(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			needX86Kernel(t, p)
			for _, name := range []string{"task_struct", "kmalloc-64", "dentry", "vm_area_struct"} {
				c, err := mm.FindCache(p, name)
				if err != nil {
					t.Fatal(err)
				}
				c, err = mm.ReadCache(p, c.Addr, true)
				if err != nil {
					t.Fatal(err)
				}
				var slabs, objects, alloc uint64
				unread, err := mm.CacheSlabs(context.Background(), p, c, func(s mm.Slab) error {
					if len(s.Errors) > 0 {
						t.Errorf("%s slab %#x: %v", name, s.Page, s.Errors)
					}
					slabs++
					objects += s.Objects
					for _, f := range s.Free {
						if !f {
							alloc++
						}
					}
					return nil
				})
				if err != nil || unread != 0 {
					t.Fatalf("%s: %v (%d unreadable)", name, err, unread)
				}
				if slabs != c.Slabs || objects != c.Objects || alloc > c.Active {
					t.Errorf("%s: memory map %d slabs %d objects %d allocated; nodes %d slabs %d objects %d active",
						name, slabs, objects, alloc, c.Slabs, c.Objects, c.Active)
				}
			}
		})
	}
}
