#!/usr/bin/env python3
"""`cmake --install BUILD --prefix /usr` with DESTDIR into a temporary directory installs exactly
the files of the packaging contract (/tmp/pkg-contract.md, issue 10; before the packagers compress
the man pages), and a program compiles and links against that tree through its pkg-config file
alone and runs, printing the library's version.

The directories come from the build's configuration (argument NAME=VALUE pairs, relative ones
under /usr); configured with -DCMAKE_INSTALL_PREFIX=/usr on Debian they are the contract's.

Usage: test_install_tree.py cmake=CMAKE build=BUILD_DIR source=SOURCE_DIR cxx=CXX cxxflags=FLAGS version=VERSION
       libdir=... includedir=... sbindir=... mandir=... sysconfdir=... unitdir=... udevrulesdir=...
       completiondir=...
"""
import os
import shutil
import subprocess
import sys
import tempfile

PREFIX = "/usr"


def main() -> int:
    args = dict(a.split("=", 1) for a in sys.argv[1:])

    def under_prefix(name: str) -> str:
        value = args[name]
        return value if os.path.isabs(value) else os.path.join(PREFIX, value)

    libdir, includedir, sbindir = under_prefix("libdir"), under_prefix("includedir"), under_prefix("sbindir")
    mandir, completiondir = under_prefix("mandir"), under_prefix("completiondir")
    sysconfdir, unitdir, udevrulesdir = args["sysconfdir"], args["unitdir"], args["udevrulesdir"]
    version = args["version"]
    major = version.split(".")[0]
    headers = sorted(h for h in os.listdir(os.path.join(args["source"], "include/nicsync")) if h.endswith(".hpp"))

    expected = {
        f"{sbindir}/nicsync",
        f"{libdir}/libnicsync.so.{version}",
        f"{libdir}/libnicsync.so.{major}",
        f"{libdir}/libnicsync.so",
        f"{libdir}/pkgconfig/nicsync.pc",
        *(f"{includedir}/nicsync/{h}" for h in headers),
        *(f"{unitdir}/{u}" for u in ("nicsync.service", "nicsync-online.service", "nicsync-update.service",
                                     "nicsync-hotplug.timer", "nicsync-update.timer")),
        f"{udevrulesdir}/90-nicsync.rules",
        f"{sysconfdir}/nicsync/nicsync.yaml",
        f"{sysconfdir}/iproute2/rt_protos.d/nicsync.conf",
        f"{sysconfdir}/cloud/cloud.cfg.d/90-nicsync.cfg",
        f"{mandir}/man8/nicsync.8",
        f"{mandir}/man5/nicsync.yaml.5",
        f"{completiondir}/nicsync",
    }

    failures = 0
    with tempfile.TemporaryDirectory(prefix="nicsync-install-") as destdir:
        env = dict(os.environ, DESTDIR=destdir)
        run = subprocess.run([args["cmake"], "--install", args["build"], "--prefix", PREFIX], env=env,
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"FAIL: cmake --install exited {run.returncode}:\n{run.stdout}{run.stderr}")
            return 1
        installed = set()
        for dirpath, dirnames, filenames in os.walk(destdir):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                installed.add("/" + os.path.relpath(os.path.join(dirpath, name), destdir))
        missing, extra = sorted(expected - installed), sorted(installed - expected)
        if missing or extra:
            print("FAIL: the installed tree differs from the expected one")
            for path in missing:
                print(f"  missing: {path}")
            for path in extra:
                print(f"  extra:   {path}")
            failures += 1
        else:
            print(f"ok:   cmake --install --prefix {PREFIX} installs exactly the {len(expected)} expected files:")
            for path in sorted(installed):
                print(f"        {path}")
        if not os.path.islink(destdir + f"{libdir}/libnicsync.so") or \
                os.readlink(destdir + f"{libdir}/libnicsync.so") != f"libnicsync.so.{major}":
            print("FAIL: libnicsync.so is not a link to libnicsync.so.%s" % major)
            failures += 1

        pc_text = open(destdir + f"{libdir}/pkgconfig/nicsync.pc").read()
        if f"prefix={PREFIX}\n" not in pc_text or "Requires" in pc_text:
            print(f"FAIL: nicsync.pc:\n{pc_text}")
            failures += 1

        # pkg-config sees only the DESTDIR tree; the sysroot goes in front of -I and -L.
        pc_env = dict(os.environ, PKG_CONFIG_SYSROOT_DIR=destdir, PKG_CONFIG_LIBDIR=destdir + f"{libdir}/pkgconfig")
        pc_env.pop("PKG_CONFIG_PATH", None)
        modversion = subprocess.run(["pkg-config", "--modversion", "nicsync"], env=pc_env, capture_output=True,
                                    text=True)
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "nicsync"], env=pc_env, capture_output=True,
                               text=True)
        if modversion.stdout.strip() != version or flags.returncode != 0:
            print(f"FAIL: pkg-config: {modversion.stdout.strip()!r} {modversion.stderr} {flags.stderr}")
            return 1
        if f"-I{destdir}{includedir}" not in flags.stdout or f"-L{destdir}{libdir}" not in flags.stdout:
            print(f"FAIL: pkg-config --cflags --libs nicsync: {flags.stdout.strip()}")
            failures += 1
        print(f"ok:   pkg-config --modversion nicsync: {version}; --cflags --libs: {flags.stdout.strip()}")

        probe = os.path.join(destdir, "probe.cpp")
        with open(probe, "w") as f:
            f.write("""// Links against the installed libnicsync through nicsync.pc only.
#include <iostream>
#include <optional>
#include <string>

#include <nicsync/app.hpp>

int main() {
  std::optional<std::string> text;
  auto options = nicsync::parse_command_line({"--version"}, text);
  if (!options.ok() || !text) return 1;
  std::cout << *text;
  return 0;
}
""")
        program = os.path.join(destdir, "probe")
        compile_cmd = [args["cxx"], "-std=c++20", *args.get("cxxflags", "").split(), probe, "-o", program, *flags.stdout.split()]
        build = subprocess.run(compile_cmd, capture_output=True, text=True)
        if build.returncode != 0:
            print(f"FAIL: {' '.join(compile_cmd)}:\n{build.stderr}")
            return 1
        run_env = dict(os.environ, LD_LIBRARY_PATH=destdir + libdir)
        ran = subprocess.run([program], env=run_env, capture_output=True, text=True)
        ldd = subprocess.run(["ldd", program], env=run_env, capture_output=True, text=True).stdout
        if ran.returncode != 0 or ran.stdout != f"nicsync {version}\n":
            print(f"FAIL: the probe exited {ran.returncode}: {ran.stdout!r} {ran.stderr!r}")
            failures += 1
        elif f"{destdir}{libdir}/libnicsync.so.{major}" not in ldd:
            print(f"FAIL: the probe did not load the installed libnicsync:\n{ldd}")
            failures += 1
        else:
            print(f"ok:   a program built with pkg-config against the tree runs: {ran.stdout.strip()}")
        launcher = subprocess.run([destdir + f"{sbindir}/nicsync", "--version"], env=run_env, capture_output=True,
                                  text=True)
        if launcher.stdout != f"nicsync {version}\n":
            print(f"FAIL: the installed launcher: {launcher.returncode} {launcher.stdout!r} {launcher.stderr!r}")
            failures += 1
        else:
            print(f"ok:   the installed launcher runs: {launcher.stdout.strip()}")

    if failures:
        print(f"{failures} failure(s)")
        return 1
    print("install tree: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
