"""Ganeti string constants the simulator speaks (raw values from Ganeti's sources)."""

RAPI_VERSION = 2
SOFTWARE_VERSION = "3.1.0"
PROTOCOL_VERSION = 3010000
CONFIG_VERSION = 3010000
OS_API_VERSION = 20
EXPORT_VERSION = 0

FEATURES = ["instance-create-reqv1", "instance-reinstall-reqv1", "node-migrate-reqv1", "node-evac-res1"]

# Job and opcode statuses.
JOB_QUEUED = "queued"
JOB_WAITING = "waiting"
JOB_CANCELING = "canceling"
JOB_RUNNING = "running"
JOB_CANCELED = "canceled"
JOB_SUCCESS = "success"
JOB_ERROR = "error"
JOBS_FINALIZED = frozenset([JOB_CANCELED, JOB_SUCCESS, JOB_ERROR])
OPS_FINALIZED = JOBS_FINALIZED

ELOG_MESSAGE = "message"

# Instance status (the "status" query field).
INST_RUNNING = "running"
INST_ADMIN_DOWN = "ADMIN_down"
INST_ADMIN_OFFLINE = "ADMIN_offline"
INST_ERROR_UP = "ERROR_up"
INST_ERROR_DOWN = "ERROR_down"
INST_NODE_DOWN = "ERROR_nodedown"
INST_NODE_OFFLINE = "ERROR_nodeoffline"
INST_WRONG_NODE = "ERROR_wrongnode"
INST_USER_DOWN = "USER_down"

# Instance admin state.
ADMIN_UP = "up"
ADMIN_DOWN = "down"
ADMIN_OFFLINE = "offline"

# Node roles (the "role" query field).
NR_MASTER = "M"
NR_MCANDIDATE = "C"
NR_DRAINED = "D"
NR_OFFLINE = "O"
NR_REGULAR = "R"
# Role names used by /2/nodes/[name]/role.
NR_NAMES = {NR_MASTER: "master", NR_MCANDIDATE: "master-candidate", NR_DRAINED: "drained",
            NR_OFFLINE: "offline", NR_REGULAR: "regular"}

DISK_TEMPLATES = ["diskless", "file", "sharedfile", "plain", "blockdev", "drbd", "rbd", "ext", "gluster"]
DTS_INT_MIRROR = frozenset(["drbd"])
DTS_LOCAL_DISK = frozenset(["plain", "drbd", "file"])  # consume node disk space
DRBD_META_SIZE = 128  # MiB of metadata per DRBD disk

INSTANCE_CREATE = "create"
INSTANCE_IMPORT = "import"
INSTANCE_REMOTE_IMPORT = "remote-import"
INSTANCE_CREATE_MODES = frozenset([INSTANCE_CREATE, INSTANCE_IMPORT, INSTANCE_REMOTE_IMPORT])

NIC_MODE_BRIDGED = "bridged"
NIC_MODE_ROUTED = "routed"
NIC_MODE_OVS = "openvswitch"
NIC_MODES = frozenset([NIC_MODE_BRIDGED, NIC_MODE_ROUTED, NIC_MODE_OVS])

REBOOT_SOFT = "soft"
REBOOT_HARD = "hard"
REBOOT_FULL = "full"
REBOOT_TYPES = frozenset([REBOOT_SOFT, REBOOT_HARD, REBOOT_FULL])

# Reason trail sources.
REASON_SRC_USER = "gnt:user"
REASON_SRC_RLIB2 = "gnt:library:rlib2"
REASON_SRC_OPCODE = "gnt:opcode"

DEFAULT_IALLOCATOR = "hail"
RAPI_ACCESS_WRITE = "write"
RAPI_ACCESS_READ = "read"
AUTH_REALM = "Ganeti Remote API"

OP_PRIO_DEFAULT = 0

DEFAULT_BEPARAMS = {"maxmem": 128, "minmem": 128, "vcpus": 1, "auto_balance": True,
                    "always_failover": False, "spindle_use": 1}
DEFAULT_NICPARAMS = {"mode": NIC_MODE_BRIDGED, "link": "br0", "vlan": ""}
DEFAULT_HYPERVISOR = "kvm"
DEFAULT_HVPARAMS = {"kvm": {"kernel_path": "", "boot_order": "disk", "cpu_type": "",
                            "nic_type": "paravirtual", "disk_type": "paravirtual",
                            "vnc_bind_address": "", "serial_console": True,
                            "reboot_behavior": "reboot", "migration_mode": "live"}}
