#!/usr/bin/env bash
# Builds what a host installs, from the agent's jar and the files in packaging/:
#   <out>/sled-agent_<version>_all.deb   (Debian/Ubuntu; needs dpkg-deb)
#   <out>/sled-agent-<version>.tar.gz    (other hosts: the same tree under sled-agent-<version>/)
# Run by Maven in the packaging module's package phase:
#   build-packages.sh <version> <agent jar> <out dir>
# Timestamps come from SOURCE_DATE_EPOCH (default: the jar's mtime), so the same inputs give
# byte-identical packages.
set -euo pipefail

if [ $# -ne 3 ]; then
    echo "usage: $0 <version> <agent jar> <out dir>" >&2
    exit 2
fi
version=$1
jar=$2
out=$3
here=$(cd "$(dirname "$0")/.." && pwd)    # packaging/

if [ ! -f "$jar" ]; then
    echo "build-packages: agent jar $jar not found: build the agent first (mvn -o install -DskipTests)" >&2
    exit 1
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$jar")}

name=sled-agent-$version
stage=$out/stage/$name
rm -rf "$out/stage" "$out/deb-root"
mkdir -p "$stage"

# The installed tree, shared by the .deb and the tarball.
install -D -m 0644 "$jar"                          "$stage/usr/share/sled-agent/sled-agent.jar"
install -D -m 0755 "$here/bin/sled-agent"          "$stage/usr/bin/sled-agent"
install -D -m 0644 "$here/systemd/sled-agent.service" "$stage/lib/systemd/system/sled-agent.service"
install -D -m 0644 "$here/smf/sled-agent.xml"      "$stage/usr/share/sled-agent/smf/sled-agent.xml"
install -D -m 0644 "$here/config/config.toml"      "$stage/etc/sled-agent/config.toml"
install -D -m 0644 "$here/config/sled-agent.default" "$stage/etc/default/sled-agent"
install -D -m 0644 "$here/README.md"               "$stage/usr/share/doc/sled-agent/README.md"
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# Tarball: root-owned, sorted, fixed mtimes, gzip without a name or time stamp.
tarball=$out/$name.tar.gz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
    -C "$out/stage" -cf - "$name" | gzip -9n > "$tarball"
echo "build-packages: $tarball ($(stat -c %s "$tarball") bytes)"

# .deb
if ! command -v dpkg-deb > /dev/null 2>&1; then
    echo "build-packages: SKIPPED the .deb: dpkg-deb is not installed (apt-get install dpkg)." >&2
    echo "build-packages: the tarball above was built; the package test will skip the .deb checks." >&2
    exit 0
fi
# Debian versions sort "~" before anything: 0.2.0~snapshot < 0.2.0.
debversion=${version/-SNAPSHOT/~snapshot}
root=$out/deb-root
cp -a "$stage" "$root"
install -d -m 0755 "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<EOF
Package: sled-agent
Version: $debversion
Architecture: all
Maintainer: ${DEB_MAINTAINER:-sled-agent developers <root@localhost>}
Installed-Size: $(du -sk --apparent-size "$stage" | cut -f1)
Depends: default-jre-headless (>= 2:1.17) | java17-runtime-headless, util-linux
Recommends: qemu-system-x86, ovmf
Section: admin
Priority: optional
Description: per-host daemon that runs Propolis VMMs in zones
 sled-agent runs virtual machine monitors (Propolis servers) inside zones (cgroup v2 on
 Linux) and reports their state to the control plane (Nexus). It serves the omicron
 sled-agent VMM API. The systemd unit is installed but not enabled: configure
 /etc/sled-agent/config.toml, then run: systemctl enable --now sled-agent
EOF
printf '%s\n' /etc/sled-agent/config.toml /etc/default/sled-agent > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$here/deb/$script" "$root/DEBIAN/$script"
done
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles"
find "$root/DEBIAN" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$out/sled-agent_${debversion}_all.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" > /dev/null
rm -rf "$root"
echo "build-packages: $deb ($(stat -c %s "$deb") bytes)"
