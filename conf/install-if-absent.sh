#!/bin/sh
# install-if-absent.sh DIR SRC NAME [SRC NAME]...: meson install script.
# Installs each SRC as $DESTDIR/DIR/NAME (mode 0644) unless that file
# exists already: a reinstall or an upgrade never overwrites an admin's
# configuration.  The pristine copies also go to share/doc/smtpwatch/examples.
set -eu
dir=$1
shift
dest="${DESTDIR:-}$dir"
while [ $# -ge 2 ]; do
	src=$1
	name=$2
	shift 2
	target="$dest/$name"
	if [ -e "$target" ] || [ -L "$target" ]; then
		echo "Keeping existing $target"
		continue
	fi
	echo "Installing $src to $target"
	[ -n "${MESON_INSTALL_DRY_RUN:-}" ] && continue
	mkdir -p "$(dirname "$target")"
	install -m 0644 "$src" "$target"
done
