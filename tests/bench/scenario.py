"""Generated instances for nicsync's benchmarks: N NICs x M addresses each (IPv4, and as many
IPv6 with ipv6=True), for any vendor, as a fixture in format nicsync-imds-fixture/1
(tests/fixtures/README.md), `expect` included.

    scenario(vendor, nics, addresses_per_nic, ipv6=False) -> fixture dict
    VENDORS: aws, oracle (= oracle-api), oracle-settings, alibaba

    python3 scenario.py aws 15 50 > aws-15x50.json          # 15 ENIs x 50 IPv4 (the AWS maximum)
    python3 scenario.py oracle-api 4 10 --ipv6 > oci.json   # secondary IPs from the OCI API mock
    python3 scenario.py oracle-settings 4 10                # ... from settings oracle.secondary_ips
    python3 scenario.py alibaba 80 50                       # hardened mode (token required)

The instance is split in two layers: `layout()` is vendor-neutral (links, MACs, the subnet, the
gateway, every address, the primary's lease) and `expect_for()` derives the kernel state of the
default scheme from it; a vendor function renders the metadata service's answers (and, for
Oracle, the OCI API's or the settings) for a layout.

Layout, deterministic for given arguments (same output byte for byte on every run):
- links eth0..eth{N-1}, MAC 02:00:00:00:XX:YY with XX:YY = the NIC index (big-endian);
  eth0 is the primary and holds the DHCP lease on its first address.
- every NIC in one subnet (default 10.16.0.0/20, gateway network + 1; widened automatically
  when N x M does not fit); NIC i's addresses are network + i*stride + 10 + j (j = 0..M-1),
  stride 256 when M <= 240, so 15 x 50 reads 10.16.I.10 .. 10.16.I.59 for NIC I.
- the first address of each NIC is its primary private IP (listed first).
- IPv6: NIC i's addresses 2001:db8:16::(i+1):(j+1) in 2001:db8:16::/64.

`expect` (tests/fixtures/README.md "Default scheme", docs/ipv6.md): every IPv4 address with the
subnet prefix; with two or more NICs, per NIC i >= 1 table 1000+i with `default via GW dev ethI`
and `SUBNET dev ethI scope link`, main `default via GW dev ethI metric 1000+i`, one rule
`from ADDR lookup 1000+i priority 1000+i` per address; the primary gets no table and no rule.
IPv6: every address /128, per NIC i >= 1 the subnet route and `default via GW6` in its table, main's
fallback at metric 1024+1000+i only via a link-local GW6 (Oracle; AWS's is learned live, Alibaba's
is global), a rule per address. validate_scenarios.py checks all of it against the real nicsync.
"""

import argparse
import ipaddress
import json
import math
import pathlib
import sys

FORMAT = "nicsync-imds-fixture/1"
DEFAULT_NETWORK = "10.16.0.0/20"
HOST_OFFSET = 10          # first address of a NIC's block (AWS reserves network + 0..3)
TABLE_BASE = 1000         # nicsync's --table-base default


# --------------------------------------------------------------------------------------------
# Vendor-neutral layout and the expected kernel state


def mac_of(index):
    if not 0 <= index < 65536:
        raise ValueError(f"NIC index {index} out of range")
    return f"02:00:00:00:{index >> 8:02x}:{index & 0xff:02x}"


def layout(nics, addresses_per_nic, network=DEFAULT_NETWORK, ipv6=False):
    """The instance independent of any vendor's metadata format: a dict with `network`
    (IPv4Network), `gateway` (str), `links` [{name, mac, index, ipv4: [str], ipv6: [str]}],
    `lease` (the primary's first address with the prefix) and, with ipv6, `network6`."""
    if nics < 1:
        raise ValueError("at least one NIC")
    if addresses_per_nic < 1:
        raise ValueError("at least one address per NIC")
    stride = 256 if addresses_per_nic <= 256 - HOST_OFFSET - 6 else \
        256 * math.ceil((addresses_per_nic + HOST_OFFSET + 6) / 256)
    net = ipaddress.IPv4Network(network)
    need = nics * stride
    if net.num_addresses < need:  # widen, keeping the base (must stay aligned)
        prefix = 32 - math.ceil(math.log2(need))
        net = ipaddress.IPv4Network(f"{net.network_address}/{prefix}", strict=False)
        if net.num_addresses < need:
            raise ValueError(f"{nics} x {addresses_per_nic} does not fit")
    gateway = net.network_address + 1
    net6 = ipaddress.IPv6Network("2001:db8:16::/64")
    links = []
    for i in range(nics):
        base = net.network_address + i * stride + HOST_OFFSET
        v4 = [str(base + j) for j in range(addresses_per_nic)]
        v6 = [str(net6.network_address + ((i + 1) << 16) + j + 1) for j in range(addresses_per_nic)] if ipv6 else []
        links.append({"name": f"eth{i}", "mac": mac_of(i), "index": i, "ipv4": v4, "ipv6": v6})
    out = {"network": net, "gateway": str(gateway), "links": links,
           "lease": f"{links[0]['ipv4'][0]}/{net.prefixlen}"}
    if ipv6:
        out["network6"] = net6
    return out


def expect_for(lay, table_base=TABLE_BASE, gateway6=None, main_default6=True, learned6=False):
    """The `expect` block: the kernel state nicsync's default scheme leaves behind. IPv4: every
    address with the subnet prefix; per NIC i >= 1 (when two or more NICs) table 1000+i with the
    link-scope subnet route and `default via GW`, main's fallback at metric 1000+i, a rule per
    address. IPv6 (docs/ipv6.md): every address /128 (the primary's too); per NIC i >= 1 the
    subnet route and, with a gateway, `default via GW6` in table 1000+i, main's fallback at metric
    1024+1000+i only via a link-local gateway (`main_default6`), a rule per address;
    `learned6`: the gateway is learned live from the primary's RA route (AWS), so those defaults
    carry `"learned": "ra"`."""
    net, gw = lay["network"], lay["gateway"]
    addresses, routes, rules = {}, [], []
    addresses6, routes6, rules6 = {}, [], []
    policy = len(lay["links"]) >= 2
    for link in lay["links"]:
        name, i = link["name"], link["index"]
        addresses[name] = [f"{a}/{net.prefixlen}" for a in link["ipv4"]]
        if link["ipv6"]:
            addresses6[name] = [f"{a}/128" for a in link["ipv6"]]
        if i == 0 or not policy:
            continue
        table = table_base + i
        routes.append({"table": table, "dst": "default", "via": gw, "dev": name})
        routes.append({"table": table, "dst": str(net), "dev": name, "scope": "link"})
        routes.append({"table": "main", "dst": "default", "via": gw, "dev": name, "metric": table})
        rules += [{"priority": table, "from": a, "table": table} for a in link["ipv4"]]
        if link["ipv6"]:
            routes6.append({"table": table, "dst": str(lay["network6"]), "dev": name})
            if gateway6:
                extra = {"learned": "ra"} if learned6 else {}
                routes6.append({"table": table, "dst": "default", "via": gateway6, "dev": name, **extra})
                if main_default6 and ipaddress.IPv6Address(gateway6).is_link_local:
                    routes6.append({"table": "main", "dst": "default", "via": gateway6, "dev": name,
                                    "metric": 1024 + table, **extra})
            rules6 += [{"priority": table, "from": a, "table": table} for a in link["ipv6"]]
    return {"addresses": addresses, "routes": routes, "rules": rules,
            "addresses6": addresses6, "routes6": routes6, "rules6": rules6}


# --------------------------------------------------------------------------------------------
# AWS


AWS_META = "/latest/meta-data/"
AWS_MACS = AWS_META + "network/interfaces/macs/"
AWS_INSTANCE_TYPE = "m5.24xlarge"   # 15 ENIs x 50 IPv4 addresses per ENI


def _hex_id(prefix, *numbers, width=17):
    """A deterministic AWS-style id: prefix + `width` hex digits."""
    value = 0x5eed
    for n in numbers:
        value = (value * 1000003 + n + 1) & ((1 << 68) - 1)
    return f"{prefix}-{value:0{width}x}"[:len(prefix) + 1 + width]


def _aws_responses(lay, nics, addresses_per_nic, ipv6):
    net, primary = lay["network"], lay["links"][0]
    instance_id = _hex_id("i", nics, addresses_per_nic)
    lease_ip = primary["ipv4"][0]
    hostname = f"ip-{lease_ip.replace('.', '-')}.ec2.internal"
    vpc = "10.16.0.0/16" if net.subnet_of(ipaddress.IPv4Network("10.16.0.0/16")) else str(net)
    r = {
        AWS_META: "\n".join(["ami-id", "hostname", "instance-id", "instance-type", "local-hostname",
                             "local-ipv4", "mac", "network/", "placement/", "services/"]),
        AWS_META + "ami-id": "ami-0b5eed000000be4c1",
        AWS_META + "hostname": hostname,
        AWS_META + "instance-id": instance_id,
        AWS_META + "instance-type": AWS_INSTANCE_TYPE,
        AWS_META + "local-hostname": hostname,
        AWS_META + "local-ipv4": lease_ip,
        AWS_META + "mac": primary["mac"],
        AWS_META + "network/": "interfaces/",
        AWS_META + "network/interfaces/": "macs/",
        AWS_META + "placement/": "availability-zone\nregion",
        AWS_META + "placement/availability-zone": "us-east-1a",
        AWS_META + "placement/region": "us-east-1",
        AWS_META + "services/": "domain\npartition",
        AWS_META + "services/domain": "amazonaws.com",
        AWS_META + "services/partition": "aws",
        # AWS lists the MACs sorted, not in device order
        AWS_MACS: "\n".join(sorted(f"{l['mac']}/" for l in lay["links"])),
    }
    keys = ["device-number", "interface-id", "local-hostname", "local-ipv4s", "mac", "owner-id",
            "security-group-ids", "security-groups", "subnet-id", "subnet-ipv4-cidr-block", "vpc-id",
            "vpc-ipv4-cidr-block", "vpc-ipv4-cidr-blocks"]
    if ipv6:
        keys += ["ipv6s", "subnet-ipv6-cidr-blocks", "vpc-ipv6-cidr-blocks"]
    keys.sort()
    for link in lay["links"]:
        base = f"{AWS_MACS}{link['mac']}/"
        values = {
            "device-number": str(link["index"]),
            "interface-id": _hex_id("eni", nics, addresses_per_nic, link["index"]),
            "local-hostname": f"ip-{link['ipv4'][0].replace('.', '-')}.ec2.internal",
            "local-ipv4s": "\n".join(link["ipv4"]),
            "mac": link["mac"],
            "owner-id": "123456789012",
            "security-group-ids": "sg-0b5eed00000000001",
            "security-groups": "bench",
            "subnet-id": "subnet-0b5eed000000000001",
            "subnet-ipv4-cidr-block": str(net),
            "vpc-id": "vpc-0b5eed00000000001",
            "vpc-ipv4-cidr-block": vpc,
            "vpc-ipv4-cidr-blocks": vpc,
        }
        if ipv6:
            values["ipv6s"] = "\n".join(link["ipv6"])
            values["subnet-ipv6-cidr-blocks"] = str(lay["network6"])
            values["vpc-ipv6-cidr-blocks"] = str(lay["network6"].supernet(new_prefix=56))
        r[base] = "\n".join(keys)
        for key in keys:
            r[base + key] = values[key]
    return r, instance_id


AWS_ROUTER6 = "fe80::4be:ff:fe00:1"   # the VPC router's link-local address (answers RAs)


def _fixture_links(lay, ipv6_router=None):
    """The fixture's `links`: name and MAC per NIC, the DHCP lease and gateway on the primary, and
    `ipv6_router` on every link when given."""
    links = []
    for link in lay["links"]:
        entry = {"name": link["name"], "mac": link["mac"]}
        if link["index"] == 0:
            entry.update({"dhcp": lay["lease"], "gateway": lay["gateway"]})
        if ipv6_router:
            entry["ipv6_router"] = ipv6_router
        links.append(entry)
    return links


def aws_scenario(nics, addresses_per_nic, ipv6=False, network=DEFAULT_NETWORK):
    """An AWS instance with `nics` ENIs of `addresses_per_nic` private IPv4 addresses each (and
    as many IPv6 addresses with ipv6=True), all in one subnet; a fixture dict. With IPv6 the
    links carry `ipv6_router` (AWS publishes no IPv6 gateway: a live apply learns it from the
    primary's RA default, hence `"learned": "ra"` in expect)."""
    lay = layout(nics, addresses_per_nic, network=network, ipv6=ipv6)
    responses, instance_id = _aws_responses(lay, nics, addresses_per_nic, ipv6)
    links = _fixture_links(lay, ipv6_router=AWS_ROUTER6 if ipv6 else None)
    return {
        "format": FORMAT,
        "vendor": "aws",
        "title": (f"AWS, generated: {nics} ENIs x {addresses_per_nic} IPv4{' + IPv6' if ipv6 else ''} "
                  f"in one subnet {lay['network']} (gateway {lay['gateway']}), {instance_id}"),
        "provenance": ("Generated by tests/bench/scenario.py (aws_scenario) for benchmarks; AWS formats as in "
                       "tests/fixtures/aws-*.json; all ids synthetic."),
        "dmi": {"sys_vendor": "Amazon EC2", "product_name": AWS_INSTANCE_TYPE, "chassis_asset_tag": "Amazon EC2"},
        "links": links,
        "imds": {
            "endpoint": "http://169.254.169.254",
            "token": {
                "path": "/latest/api/token",
                "ttl_header": "X-aws-ec2-metadata-token-ttl-seconds",
                "header": "X-aws-ec2-metadata-token",
                "value": "AQAEAbench" + "0" * 46 + "==",
                "required": True,
            },
            "path_aliases": {"/2021-03-23/": "/latest/"},
            "responses": responses,
        },
        "expect": expect_for(lay, gateway6=AWS_ROUTER6 if ipv6 else None, learned6=True),
    }


# --------------------------------------------------------------------------------------------
# Oracle


ORACLE_META = "/opc/v2/"
ORACLE_SHAPE = "VM.Standard.E4.Flex"
ORACLE_ROUTER6 = "fe80::200:17ff:fe40:8972"   # ipv6VirtualRouterIp: link-local, as OCI publishes it
ORACLE_COMPARTMENT = "ocid1.compartment.oc1..aaaaaaaabench0000000000000000000000000000000000000000000000"
ORACLE_SETTINGS_FILE = "50-bench-secondary-ips.yaml"


def _oci_id(kind, nics, addresses_per_nic, *numbers):
    tail = _hex_id("x", nics, addresses_per_nic, *numbers, width=24)[2:]
    return f"ocid1.{kind}.oc1.phx.abyhqljbench{tail}"


def _json_text(value):
    """JSON the way OCI's metadata service prints it: two-space indent, ` : ` separators."""
    return json.dumps(value, indent=2).replace('": ', '" : ')


def oracle_scenario(nics, addresses_per_nic, ipv6=False, network=DEFAULT_NETWORK, secondary_ips="api"):
    """An OCI VM with `nics` VNICs of `addresses_per_nic` private IPv4 addresses each, in one
    subnet. IMDS (`/opc/v2/instance/`, `/opc/v2/vnics/`) lists each VNIC with its primary IP only;
    the other M-1 come from
      secondary_ips="api":      the OCI API (`oci_api.private_ips`, served by
                                nicsync-mock-oci-api: primary first with isPrimary true), or
      secondary_ips="settings": nicsync's settings `oracle.secondary_ips` keyed by vnicId, with
                                the API off (no `oci_api` block); the settings file is in the
                                fixture's `nicsync_conf_d` {file name: YAML text} (not read by the
                                mock: write it to ROOT/etc/nicsync/conf.d/).
    With ipv6 every VNIC has M IPv6 addresses in `ipv6Addresses` (IMDS), `ipv6SubnetCidrBlock`
    and the link-local `ipv6VirtualRouterIp`."""
    if secondary_ips not in ("api", "settings"):
        raise ValueError(f"secondary_ips must be api or settings, not {secondary_ips!r}")
    lay = layout(nics, addresses_per_nic, network=network, ipv6=ipv6)
    net = lay["network"]
    instance_id = _oci_id("instance", nics, addresses_per_nic)
    instance = {
        "availabilityDomain": "qIZq:PHX-AD-1",
        "faultDomain": "FAULT-DOMAIN-1",
        "compartmentId": ORACLE_COMPARTMENT,
        "displayName": f"bench-{nics}x{addresses_per_nic}",
        "hostname": f"bench-{nics}x{addresses_per_nic}",
        "id": instance_id,
        "image": "ocid1.image.oc1.phx.aaaaaaaabench000000000000000000000000000000000000000000000000",
        "metadata": {},
        "region": "phx",
        "canonicalRegionName": "us-phoenix-1",
        "ociAdName": "phx-ad-1",
        "shape": ORACLE_SHAPE,
        "state": "Running",
        "timeCreated": 1700000000000,
        "agentConfig": {"monitoringDisabled": False, "managementDisabled": False},
    }
    vnics, private_ips, settings = [], {}, {}
    for link in lay["links"]:
        i = link["index"]
        vnic_id = _oci_id("vnic", nics, addresses_per_nic, i)
        entry = {
            "vnicId": vnic_id,
            "privateIp": link["ipv4"][0],
            "vlanTag": 100 + i,
            "macAddr": link["mac"].upper(),
            "virtualRouterIp": lay["gateway"],
            "subnetCidrBlock": str(net),
        }
        if ipv6:
            entry.update({"ipv6SubnetCidrBlock": str(lay["network6"]), "ipv6VirtualRouterIp": ORACLE_ROUTER6,
                          "ipv6Addresses": list(link["ipv6"])})
        vnics.append(entry)
        ips = []
        for j, address in enumerate(link["ipv4"]):
            ips.append({
                "id": _oci_id("privateip", nics, addresses_per_nic, i, j),
                "ipAddress": address,
                "isPrimary": j == 0,
                "vnicId": vnic_id,
                "subnetId": "ocid1.subnet.oc1.phx.aaaaaaaabenchsubnet",
                "hostnameLabel": f"bench-{i}-{j}",
                "displayName": f"bench-{i}-{j}",
                "availabilityDomain": "qIZq:PHX-AD-1",
                "compartmentId": ORACLE_COMPARTMENT,
                "timeCreated": "2026-01-01T00:00:00.000Z",
            })
        private_ips[vnic_id] = ips
        if len(link["ipv4"]) > 1:
            settings[vnic_id] = link["ipv4"][1:]
    vnics_text = "[ " + ", ".join(_json_text(v) for v in vnics) + " ]"
    instance_text = _json_text(instance)
    links = _fixture_links(lay)
    source = "the OCI API (oci_api)" if secondary_ips == "api" else "settings oracle.secondary_ips (API off)"
    out = {
        "format": FORMAT,
        "vendor": "oracle",
        "title": (f"OCI VM, generated: {nics} VNICs x {addresses_per_nic} IPv4{' + IPv6' if ipv6 else ''} "
                  f"in one subnet {net} (router {lay['gateway']}); secondary IPs from {source}"),
        "provenance": ("Generated by tests/bench/scenario.py (oracle_scenario) for benchmarks; OCI formats as in "
                       "tests/fixtures/oracle-*.json; all OCIDs synthetic."),
        "dmi": {"sys_vendor": "QEMU", "product_name": "Standard PC (i440FX + PIIX, 1996)",
                "chassis_asset_tag": "OracleCloud.com"},
        "links": links,
        "imds": {
            "endpoint": "http://169.254.169.254",
            "token": None,
            "require_headers": {"Authorization": "Bearer Oracle"},
            "responses": {
                ORACLE_META + "instance/": instance_text,
                ORACLE_META + "instance": instance_text,
                ORACLE_META + "vnics/": vnics_text,
                ORACLE_META + "vnics": vnics_text,
            },
        },
    }
    if secondary_ips == "api":
        out["oci_api"] = {"private_ips": private_ips}
    else:
        lines = ["oracle:", "  api:", "    enabled: false", "  secondary_ips:"]
        lines += [f"    {vnic}: [{', '.join(addrs)}]" for vnic, addrs in settings.items()]
        if not settings:
            lines[-1] = "  secondary_ips: {}"
        out["nicsync_conf_d"] = {ORACLE_SETTINGS_FILE: "\n".join(lines) + "\n"}
    out["expect"] = expect_for(lay, gateway6=ORACLE_ROUTER6 if ipv6 else None)
    return out


def oracle_settings_scenario(nics, addresses_per_nic, ipv6=False, network=DEFAULT_NETWORK):
    return oracle_scenario(nics, addresses_per_nic, ipv6=ipv6, network=network, secondary_ips="settings")


# --------------------------------------------------------------------------------------------
# Alibaba


ALIBABA_META = "/latest/meta-data/"
ALIBABA_MACS = ALIBABA_META + "network/interfaces/macs/"
ALIBABA_INSTANCE_TYPE = "ecs.g7.16xlarge"


def _alibaba_id(prefix, *numbers):
    return _hex_id(prefix, *numbers, width=20)


def alibaba_scenario(nics, addresses_per_nic, ipv6=False, network=DEFAULT_NETWORK):
    """An Alibaba ECS instance with `nics` ENIs of `addresses_per_nic` private IPv4 addresses
    each, in one vswitch, served in hardened mode (a token is required for every GET: the
    token PUT, then `X-aliyun-ecs-metadata-token`). `private-ipv4s` is a JSON array, primary
    first; with ipv6 `ipv6s` is a bracketed list, `ipv6-gateway` a global address of the
    vswitch's IPv6 block (so main gets no IPv6 fallback, docs/ipv6.md)."""
    lay = layout(nics, addresses_per_nic, network=network, ipv6=ipv6)
    net, primary = lay["network"], lay["links"][0]
    instance_id = _alibaba_id("i", nics, addresses_per_nic)
    gateway6 = str(lay["network6"].network_address + 0xffff_ffff_ffff_fffd) if ipv6 else None
    vpc = "10.16.0.0/16" if net.subnet_of(ipaddress.IPv4Network("10.16.0.0/16")) else str(net)
    r = {
        ALIBABA_META: "\n".join(["hostname", "image-id", "instance-id", "instance/", "mac", "network-type",
                                 "network/", "owner-account-id", "private-ipv4", "region-id", "vpc-cidr-block",
                                 "vpc-id", "vswitch-cidr-block", "vswitch-id", "zone-id"]),
        ALIBABA_META + "hostname": f"iZbench{nics}x{addresses_per_nic}Z",
        ALIBABA_META + "image-id": "aliyun_3_x64_20G_alibase_20240528.vhd",
        ALIBABA_META + "instance-id": instance_id,
        ALIBABA_META + "instance/": "instance-type",
        ALIBABA_META + "instance/instance-type": ALIBABA_INSTANCE_TYPE,
        ALIBABA_META + "mac": primary["mac"],
        ALIBABA_META + "network-type": "vpc",
        ALIBABA_META + "network/": "interfaces/",
        ALIBABA_META + "network/interfaces/": "macs/",
        ALIBABA_META + "owner-account-id": "1720394865210763",
        ALIBABA_META + "private-ipv4": primary["ipv4"][0],
        ALIBABA_META + "region-id": "cn-hangzhou",
        ALIBABA_META + "vpc-cidr-block": vpc,
        ALIBABA_META + "vpc-id": "vpc-bp1bench000000000000",
        ALIBABA_META + "vswitch-cidr-block": str(net),
        ALIBABA_META + "vswitch-id": "vsw-bp1bench000000000000",
        ALIBABA_META + "zone-id": "cn-hangzhou-k",
        ALIBABA_MACS: "\n".join(f"{l['mac']}/" for l in lay["links"]),
    }
    keys = ["gateway", "netmask", "network-interface-id", "primary-ip-address", "private-ipv4s",
            "vpc-cidr-block", "vpc-id", "vswitch-cidr-block", "vswitch-id"]
    if ipv6:
        keys += ["ipv6-gateway", "ipv6s", "vpc-ipv6-cidr-blocks", "vswitch-ipv6-cidr-block"]
    keys.sort()
    for link in lay["links"]:
        base = f"{ALIBABA_MACS}{link['mac']}/"
        values = {
            "gateway": lay["gateway"],
            "netmask": str(net.netmask),
            "network-interface-id": _alibaba_id("eni", nics, addresses_per_nic, link["index"]),
            "primary-ip-address": link["ipv4"][0],
            "private-ipv4s": json.dumps(link["ipv4"], separators=(",", ":")),
            "vpc-cidr-block": vpc,
            "vpc-id": "vpc-bp1bench000000000000",
            "vswitch-cidr-block": str(net),
            "vswitch-id": "vsw-bp1bench000000000000",
        }
        if ipv6:
            values["ipv6-gateway"] = gateway6
            values["ipv6s"] = "[" + ",".join(link["ipv6"]) + "]"
            values["vpc-ipv6-cidr-blocks"] = f"[{lay['network6'].supernet(new_prefix=56)}]"
            values["vswitch-ipv6-cidr-block"] = str(lay["network6"])
        r[base] = "\n".join(keys)
        for key in keys:
            r[base + key] = values[key]
    links = _fixture_links(lay)
    return {
        "format": FORMAT,
        "vendor": "alibaba",
        "title": (f"Alibaba ECS, generated: {nics} ENIs x {addresses_per_nic} IPv4{' + IPv6' if ipv6 else ''} "
                  f"in one vswitch {net} (gateway {lay['gateway']}), hardened mode (token required), {instance_id}"),
        "provenance": ("Generated by tests/bench/scenario.py (alibaba_scenario) for benchmarks; Alibaba formats as "
                       "in tests/fixtures/alibaba-*.json; all ids synthetic."),
        "dmi": {"sys_vendor": "Alibaba Cloud", "product_name": "Alibaba Cloud ECS", "chassis_asset_tag": ""},
        "links": links,
        "imds": {
            "endpoint": "http://100.100.100.200",
            "token": {
                "path": "/latest/api/token",
                "ttl_header": "X-aliyun-ecs-metadata-token-ttl-seconds",
                "header": "X-aliyun-ecs-metadata-token",
                "value": "AAAAAQbench" + "0" * 37,
                "required": True,
            },
            "path_aliases": {"/2016-01-01/": "/latest/"},
            "responses": r,
        },
        "expect": expect_for(lay, gateway6=gateway6),
    }


# --------------------------------------------------------------------------------------------
# Vendors


VENDORS = {
    "aws": aws_scenario,
    "oracle": oracle_scenario,                   # secondary IPs from the OCI API (mock)
    "oracle-api": oracle_scenario,               # the same, by its bench name
    "oracle-settings": oracle_settings_scenario,  # secondary IPs from settings, API off
    "alibaba": alibaba_scenario,
}


def scenario(vendor, nics, addresses_per_nic, ipv6=False, network=DEFAULT_NETWORK):
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
    return VENDORS[vendor](nics, addresses_per_nic, ipv6=ipv6, network=network)


def write_conf_d(fixture, root):
    """Writes the fixture's `nicsync_conf_d` files (oracle-settings) to ROOT/etc/nicsync/conf.d/."""
    files = fixture.get("nicsync_conf_d") or {}
    if files:
        conf_d = pathlib.Path(root) / "etc/nicsync/conf.d"
        conf_d.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (conf_d / name).write_text(text)


def objects(fixture):
    """How many kernel objects `expect` holds beyond the primary's lease: addresses, routes,
    rules, IPv4 and IPv6 (what a clean live apply adds; learned IPv6 routes included)."""
    e = fixture["expect"]
    lease = next(l["dhcp"] for l in fixture["links"] if "dhcp" in l)
    addrs = sum(len(v) for v in e["addresses"].values()) - (1 if any(lease in v for v in e["addresses"].values()) else 0)
    addrs += sum(len(v) for v in e.get("addresses6", {}).values())
    return {"addresses": addrs, "routes": len(e["routes"]) + len(e.get("routes6", [])),
            "rules": len(e["rules"]) + len(e.get("rules6", []))}


def main(argv=None):
    p = argparse.ArgumentParser(description="Print a generated nicsync-imds-fixture/1 instance.")
    p.add_argument("vendor", choices=sorted(VENDORS))
    p.add_argument("nics", type=int)
    p.add_argument("addresses_per_nic", type=int)
    p.add_argument("--ipv6", action="store_true", help="also give every NIC as many IPv6 addresses")
    p.add_argument("--network", default=DEFAULT_NETWORK, help=f"the subnet (default {DEFAULT_NETWORK})")
    a = p.parse_args(argv)
    try:
        data = scenario(a.vendor, a.nics, a.addresses_per_nic, ipv6=a.ipv6, network=a.network)
    except (ValueError, NotImplementedError) as e:
        print(f"scenario.py: {e}", file=sys.stderr)
        return 2
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
