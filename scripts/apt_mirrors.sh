# Sourced by install_caffe.sh, make_base_image.sh and docker/images.sh: the mirrors this
# machine's own apt sources name, so local mirrors and proxies keep working.

apt_mirrors() {
  # Every mirror URL in this machine's apt sources (one-line and deb822 formats).
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    sed -e 's/#.*//' "$f" | awk '
      /^[ \t]*deb(-src)?[ \t]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; break } }
      /^[ \t]*URIs:/ { for (i = 2; i <= NF; i++) print $i }'
  done
}

system_debian_mirror() {
  # The first non-security Debian mirror named in this machine's apt sources.
  apt_mirrors | grep -v -i security | grep -E '/debian/?$' | head -n 1
}
