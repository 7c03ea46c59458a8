#!/bin/busybox sh
# /init of the dump generator's guests. The generator fills in
# /etc/kwalk-scenarios (the argument of "hangfs scenario") and
# /lib/modules/load (module files in load order).
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /mnt
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
while read -r m; do
	insmod "/lib/modules/$m" || echo "KWALK-INIT insmod $m failed"
done < /lib/modules/load
grep -qw fuse /proc/filesystems || echo "KWALK-INIT no fuse in /proc/filesystems"
mount -t fusectl fusectl /sys/fs/fuse/connections || echo "KWALK-INIT no fusectl"
echo "KWALK-INIT release $(uname -r) vmcoreinfo $(ls /sys/firmware/qemu_fw_cfg/by_name/etc/ 2>/dev/null | tr '\n' ' ')"
hangfs scenario "$(cat /etc/kwalk-scenarios)"
echo "KWALK-INIT scenario runner exited: $?"
while :; do sleep 3600; done
