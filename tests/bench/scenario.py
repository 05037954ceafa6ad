"""Generated instances for nicsync's benchmarks: N NICs x M IPv4 addresses each, as a fixture
in format nicsync-imds-fixture/1 (tests/fixtures/README.md), `expect` included.

    scenario("aws", nics, addresses_per_nic, ipv6=False) -> fixture dict
    aws_scenario(nics, addresses_per_nic, ipv6=False)    -> the same for AWS

    python3 scenario.py aws 15 50 > aws-15x50.json        # 15 ENIs x 50 IPv4 (the AWS maximum)
    python3 scenario.py aws 4 10 --ipv6 > aws-4x10-v6.json

The instance is split in two layers so that other clouds can be added without touching the
first: `layout()` is vendor-neutral (links, MACs, the subnet, the gateway, every address, the
primary's lease) and `expect_for()` derives the kernel state of the default scheme from it;
a vendor function renders the metadata service's answers for a layout (`VENDORS`).

Layout, deterministic for given arguments (same output byte for byte on every run):
- links eth0..eth{N-1}, MAC 02:00:00:00:XX:YY with XX:YY = the NIC index (big-endian);
  eth0 is the primary and holds the DHCP lease on its first address.
- every NIC in one subnet (default 10.16.0.0/20, gateway network + 1; widened automatically
  when N x M does not fit); NIC i's addresses are network + i*stride + 10 + j (j = 0..M-1),
  stride 256 when M <= 240, so 15 x 50 reads 10.16.I.10 .. 10.16.I.59 for NIC I.
- the first address of each NIC is its primary private IP (listed first, as AWS does).

`expect` (IPv4 only, like every fixture): every address with the subnet prefix; per NIC i >= 1
table 1000+i with `default via GW dev ethI` and `SUBNET dev ethI scope link`, main
`default via GW dev ethI metric 1000+i`, and one rule `from ADDR lookup 1000+i priority 1000+i`
per address of NIC i. The primary gets no table and no rule.
"""

import argparse
import ipaddress
import json
import math
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


def expect_for(lay, table_base=TABLE_BASE):
    """The `expect` block: the kernel state nicsync's default scheme leaves behind (IPv4)."""
    net, gw = lay["network"], lay["gateway"]
    addresses, routes, rules = {}, [], []
    for link in lay["links"]:
        name, i = link["name"], link["index"]
        addresses[name] = [f"{a}/{net.prefixlen}" for a in link["ipv4"]]
        if i == 0 or len(lay["links"]) < 2:
            continue
        table = table_base + i
        routes.append({"table": table, "dst": "default", "via": gw, "dev": name})
        routes.append({"table": table, "dst": str(net), "dev": name, "scope": "link"})
        routes.append({"table": "main", "dst": "default", "via": gw, "dev": name, "metric": table})
        rules += [{"priority": table, "from": a, "table": table} for a in link["ipv4"]]
    return {"addresses": addresses, "routes": routes, "rules": rules}


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


def aws_scenario(nics, addresses_per_nic, ipv6=False, network=DEFAULT_NETWORK):
    """An AWS instance with `nics` ENIs of `addresses_per_nic` private IPv4 addresses each (and
    as many IPv6 addresses with ipv6=True), all in one subnet; a fixture dict."""
    lay = layout(nics, addresses_per_nic, network=network, ipv6=ipv6)
    responses, instance_id = _aws_responses(lay, nics, addresses_per_nic, ipv6)
    links = []
    for link in lay["links"]:
        entry = {"name": link["name"], "mac": link["mac"]}
        if link["index"] == 0:
            entry.update({"dhcp": lay["lease"], "gateway": lay["gateway"]})
        links.append(entry)
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
        "expect": expect_for(lay),
    }


# --------------------------------------------------------------------------------------------
# Vendors


def _not_yet(vendor):
    def generate(nics, addresses_per_nic, ipv6=False, network=DEFAULT_NETWORK):
        raise NotImplementedError(f"{vendor} scenarios are not generated yet (only aws)")
    return generate


VENDORS = {
    "aws": aws_scenario,
    "oracle": _not_yet("oracle"),     # later: /opc/v2 vnics/ + oci_api.private_ips
    "alibaba": _not_yet("alibaba"),   # later: private-ipv4s JSON arrays, gateway from the vswitch
}


def scenario(vendor, nics, addresses_per_nic, ipv6=False, network=DEFAULT_NETWORK):
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}; known: {', '.join(VENDORS)}")
    return VENDORS[vendor](nics, addresses_per_nic, ipv6=ipv6, network=network)


def objects(fixture):
    """How many kernel objects `expect` holds beyond the primary's lease: addresses, routes,
    rules (what a clean apply adds)."""
    e = fixture["expect"]
    lease = next(l["dhcp"] for l in fixture["links"] if "dhcp" in l)
    addrs = sum(len(v) for v in e["addresses"].values()) - (1 if any(lease in v for v in e["addresses"].values()) else 0)
    return {"addresses": addrs, "routes": len(e["routes"]), "rules": len(e["rules"])}


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
