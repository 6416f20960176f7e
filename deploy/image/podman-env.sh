# podman-env.sh: sourced by build.sh and tests/image/check.sh. Points
# Debian's podman at storage and configuration of its own under
# $PODMAN_DIR (the caller sets it: build/podman), so that the build and the tests
# neither use nor change the host's containers, and never reach a
# registry. Rootful, with runc: crun refuses this host's hybrid cgroups.
: "${PODMAN_DIR:?podman-env.sh: set PODMAN_DIR (e.g. build/podman, absolute)}"
case $PODMAN_DIR in /*) ;; *) echo "podman-env.sh: PODMAN_DIR must be absolute" >&2; exit 2 ;; esac
mkdir -p "$PODMAN_DIR/storage" "$PODMAN_DIR/run" "$PODMAN_DIR/tmp" \
    "$PODMAN_DIR/net"

# Raised nofile and nproc: the defaults leave the daemon too few fds and
# its sessions too few processes once several uids share the container.
cat >"$PODMAN_DIR/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_DIR/events.log"
tmp_dir = "$PODMAN_DIR/tmp"
static_dir = "$PODMAN_DIR/storage/libpod"
volume_path = "$PODMAN_DIR/storage/volumes"
network_cmd_path = "/usr/bin/slirp4netns"
[network]
network_config_dir = "$PODMAN_DIR/net"
default_rootless_network_cmd = "slirp4netns"
CONF
cat >"$PODMAN_DIR/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$PODMAN_DIR/storage"
runroot = "$PODMAN_DIR/run"
CONF
# No registry: short names resolve to local images only.
cat >"$PODMAN_DIR/registries.conf" <<CONF
unqualified-search-registries = []
short-name-mode = "permissive"
CONF
export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"
export CONTAINERS_STORAGE_CONF="$PODMAN_DIR/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$PODMAN_DIR/registries.conf"
