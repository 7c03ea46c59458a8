// Package resource walks the kernel's resource trees (kernel/resource.c):
// ioport_resource, the I/O port space, and iomem_resource, the physical
// address space, as /proc/ioports and /proc/iomem show them.
//
//	ports, err := resource.Tree(p, "ioport_resource")
//	for _, r := range ports { fmt.Println(r.Depth, r.Start, r.End, r.Name) }
//
// Each struct resource (include/linux/ioport.h) has start, end (inclusive),
// name, flags, and parent, sibling and child links; the walk is
// depth-first, children before the next sibling, and bounded.
package resource
