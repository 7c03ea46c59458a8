// Package net decodes the network stack: the network devices of a
// namespace (struct net_device on net.dev_base_head, with their IPv4
// addresses from in_device), the ARP cache (arp_tbl's neighbours) and
// sockets (struct socket and struct sock: family, type, protocol, state,
// addresses and ports, queued data, a unix socket's path), found through
// the files of a task.
//
//	devs, err := net.Devices(p)          // like /proc/net/dev, ip addr
//	ns, err := net.TaskNetNamespace(p, task) // task->nsproxy->net_ns
//	devs, err = net.NamespaceDevices(p, ns)
//	arp, err := net.ARPCache(p)          // like /proc/net/arp, ip neigh
//	socks, err := net.TaskSockets(p, t)  // a task's fds that are sockets
//	s, err := net.ReadSocket(p, sockAddr) // one struct socket
//	owners, err := net.PeerOwners(p, tasks, s) // who has the other end
//
// PeerOwners finds the process serving a connection on this machine: the
// holder of a unix socket's peer, or of the TCP/UDP socket whose
// addresses are the connection's, swapped.
//
// Layouts come from the dump's types; the kernel source file each comes
// from is named where it is read. Every list is bounded.
package net
