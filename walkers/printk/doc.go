// Package printk reads the kernel log from the printk ring buffer
// (kernel/printk/printk_ringbuffer.c):
//
//	recs, err := printk.Log(p) // records, oldest first; r.Line() is dmesg's
package printk
