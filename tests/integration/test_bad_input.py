"""Bad input gets a one-line error naming the input and what is wrong, exit status 1, and
leaves every file as it was (checked on a root that already holds a good run's files)."""

import pathlib
import shutil
import tempfile

from harness import (Failures, free_port, load_fixture, mock_server, run_nicsync, snapshot, target_root,
                     write_oci_api_settings)

FIXTURE = "aws-seed-two-eni"
MACS = "/latest/meta-data/network/interfaces/macs/"


def expect_failure(t, name, renderer, message_parts, overrides=(), links=None, url=None, fixture=FIXTURE,
                   mock_args=()):
    with t.case(f"{fixture}: {name} ({renderer})"):
        with tempfile.TemporaryDirectory() as tmp:
            extra = []
            for i, (path, body) in enumerate(overrides):
                body_file = pathlib.Path(tmp) / f"body{i}"
                body_file.write_text(body)
                extra += ["--override", f"{path}={body_file}"]
            with target_root(fixture, renderer) as root, mock_server(fixture) as good_url:
                write_oci_api_settings(root, good_url.oci)
                # A good run first, so there are files that must stay as they are.
                run_nicsync("--root", str(root), "--metadata-url", good_url, "apply", check_exit=0)
                if links is not None:
                    for link in load_fixture(fixture)["links"]:
                        if link["name"] not in links:
                            shutil.rmtree(root / "sys/class/net" / link["name"])
                before = snapshot(root)
                with mock_server(fixture, *extra, *mock_args) as bad_url:
                    proc = run_nicsync("--root", str(root), "--metadata-url", url or bad_url, "apply")
                assert proc.returncode == 1, f"exit {proc.returncode}, stderr: {proc.stderr}"
                lines = proc.stderr.splitlines()
                assert len(lines) == 1, f"want one line, got: {proc.stderr!r}"
                for part in message_parts:
                    assert part in lines[0], f"{part!r} not in {lines[0]!r}"
                assert snapshot(root) == before, "files changed after a failed run"


def main():
    t = Failures()
    for renderer in ("netplan", "network-scripts"):
        expect_failure(t, "malformed local-ipv4s line", renderer,
                       ['nicsync: error: aws: macs/02:86:10:77:7f:fe/local-ipv4s line 2: "10.0.0.580" is not an IPv4 address'],
                       overrides=[(MACS + "02:86:10:77:7f:fe/local-ipv4s", "10.0.0.76\n10.0.0.580")])
        expect_failure(t, "subnet CIDR with host bits", renderer,
                       ['nicsync: error: aws: macs/02:86:10:65:fd:31/subnet-ipv4-cidr-block: "10.0.0.5/24" has host bits set'],
                       overrides=[(MACS + "02:86:10:65:fd:31/subnet-ipv4-cidr-block", "10.0.0.5/24")])
        expect_failure(t, "MAC with no local interface", renderer,
                       ["nicsync: error: aws: interface 02:86:10:65:fd:31", "no local interface has that MAC"],
                       links={"eth0"})
        port = free_port()
        expect_failure(t, "unreachable endpoint", renderer,
                       ["nicsync: error: aws:", "/latest/api/token", f"127.0.0.1:{port}"],
                       url=f"http://127.0.0.1:{port}")
        vnics = load_fixture("oracle-vm-secondary-vnic")["imds"]["responses"]["/opc/v2/vnics/"]
        expect_failure(t, "truncated vnics JSON", renderer, ["nicsync: error: oracle: vnics/", "JSON"],
                       fixture="oracle-vm-secondary-vnic", overrides=[("/opc/v2/vnics/", vnics[: len(vnics) // 2])])
        expect_failure(t, "a VNIC without macAddr", renderer,
                       ["nicsync: error: oracle: vnics/ entry 2", '"macAddr" is missing'],
                       fixture="oracle-vm-secondary-vnic",
                       overrides=[("/opc/v2/vnics/", vnics.replace('"macAddr" : "00:00:17:02:2B:B1",', ""))])
        ali = "/latest/meta-data/network/interfaces/macs/00:16:3e:45:5e:32/private-ipv4s"
        expect_failure(t, "private-ipv4s not an array", renderer,
                       ["nicsync: error: alibaba: macs/00:16:3e:45:5e:32/private-ipv4s", '"172.16.10.57"',
                        "not a JSON array"],
                       fixture="alibaba-seed-eni-eip", overrides=[(ali, "172.16.10.57")])
        expect_failure(t, "token PUT answered 403", renderer,
                       ["nicsync: error: alibaba: PUT /latest/api/token: HTTP 403"],
                       fixture="alibaba-seed-eni-eip", mock_args=["--fault-status", "/latest/api/token:403"])
        # Values that parse but cannot be: each the reviewer's reproducer of a dangerous plan.
        expect_failure(t, "delegated IPv4 prefix 0.0.0.0/0", renderer,
                       ["nicsync: error: aws: macs/06:e3:97:0c:5a:14/ipv4-prefix line 1: IPv4 prefix 0.0.0.0/0 is not "
                        "inside its subnet 10.20.1.0/24 and longer than it"],
                       fixture="aws-ipv6-prefixes", overrides=[(MACS + "06:e3:97:0c:5a:14/ipv4-prefix", "0.0.0.0/0")])
        expect_failure(t, "delegated IPv6 prefix ::/0", renderer,
                       ["nicsync: error: aws: macs/06:e3:97:0c:5a:14/ipv6-prefix line 1: IPv6 prefix ::/0 is not "
                        "inside one of its IPv6 subnets and longer than it"],
                       fixture="aws-ipv6-prefixes", overrides=[(MACS + "06:e3:97:0c:5a:14/ipv6-prefix", "::/0")])
        expect_failure(t, "subnet 0.0.0.0/0", renderer,
                       ['nicsync: error: aws: macs/02:86:10:65:fd:31/subnet-ipv4-cidr-block: "0.0.0.0/0" is wider than /8'],
                       overrides=[(MACS + "02:86:10:65:fd:31/subnet-ipv4-cidr-block", "0.0.0.0/0"),
                                  (MACS + "02:86:10:65:fd:31/local-ipv4s", "8.8.8.8")])
        expect_failure(t, "an address that is the gateway", renderer,
                       ["nicsync: error: aws: NIC 02:86:10:65:fd:31 (eni-0e7275b13b81f8bd2): 10.0.0.1 is the gateway "
                        "of its subnet 10.0.0.0/24"],
                       overrides=[(MACS + "02:86:10:65:fd:31/local-ipv4s", "10.0.0.1")])
        expect_failure(t, "an address on two NICs", renderer,
                       ["nicsync: error: aws: 10.0.0.58 is on both NIC 02:86:10:77:7f:fe (eni-05af1804c2797549f) and "
                        "NIC 02:86:10:65:fd:31 (eni-0e7275b13b81f8bd2)"],
                       overrides=[(MACS + "02:86:10:65:fd:31/local-ipv4s", "10.0.0.226\n10.0.0.58")])
        expect_failure(t, "a privateIp that is the virtualRouterIp", renderer,
                       ["nicsync: error: oracle: NIC 00:00:17:02:2b:b1 (ocid1.vnic.oc1.phx.abyhqljt4iew3gwmvrwrhhf3bp5"
                        "drjexamplesecondvnic0002): 172.16.2.1 is the gateway of its subnet 172.16.2.0/24"],
                       fixture="oracle-vm-secondary-vnic",
                       overrides=[("/opc/v2/vnics/", vnics.replace('"privateIp" : "172.16.2.10"',
                                                                   '"privateIp" : "172.16.2.1"'))])
    t.finish()


if __name__ == "__main__":
    main()
