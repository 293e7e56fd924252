#!/usr/bin/env bash
# The int8 detection models keep their accuracy on 64-bit Arm (aarch64) CPUs: proved on an
# x86-64 machine by user-mode emulation (qemu-aarch64), the Arm twin of the emulated-Haswell
# proof in tests/test_portability.py.
#
# What it does, all under WORK (default /tmp/arm64), nothing in the repository:
#  0. qemu-user 10 (static binaries) from Debian bookworm-backports, unpacked under WORK with a
#     private apt configuration (the system's apt state is untouched). qemu 7.2 (bookworm's)
#     mis-emulates SME: onnxruntime's SME kernel of DynamicQuantizeMatMul returns garbage
#     under `-cpu max` there and is right under qemu 10. QEMU=/path/to/qemu-aarch64 overrides
#     (with 7.2, use `max,sme=off`);
#  1. an arm64 Debian bookworm userland with Python 3.11 (debootstrap --foreign: download and
#     unpack only, no arm64 code runs; the other packages it fetched are unpacked by hand);
#  2. the aarch64 wheels of the numpy, onnxruntime and tokenizers versions of .venv, the only
#     packages the checks import (pip download --platform ..., pip install --target);
#  3. on the host, the models to score: the built local_model/{rampart,minilm}/model
#     onnx/model_int8.onnx with their manifests (digests checked), and each model's other
#     scheme built from the same float source (quantization does not depend on the CPU; the
#     host's rebuild of the built scheme is checked to be byte-identical);
#  4. under each emulated CPU (CPUS, default: max = SME, SVE2, i8mm; neoverse-v1 = Graviton 3:
#     SVE-256, i8mm; neoverse-n2 = Cobalt 100: SVE2-128, i8mm; neoverse-n1 = Graviton 2:
#     dot products; cortex-a72 = Graviton 1, Raspberry Pi 4: plain NEON):
#     privacy_partition._cpu.cpu_class(), the built models loaded as the SDK loads them
#     (verify_int8 / verify_minilm, which re-run the check off the build's CPU class) and the
#     other candidates scored with the same checkers, against the manifests' references;
#     the bar is 0.99 for both (Rampart: token agreement with the 4-bit model; MiniLM: least
#     cosine with float32). The int8 instructions onnxruntime ran under each CPU (from
#     qemu -d in_asm, classified by encoding) show which kernels the check went through.
# Results: WORK/results/results.md (tables) and WORK/results/*.json.
#
# Workarounds: qemu-user 7.2 passes the x86 host's /proc/cpuinfo through, on which
# onnxruntime's cpuinfo library segfaults at import; WORK/root/proc/cpuinfo (qemu -L looks
# there first) is written per CPU from what the emulated CPU reports (MIDR_EL1 and HWCAPs).
# qemu 10 emulates /proc/cpuinfo itself and ignores that file.
# privacy_partition.detection's __init__ imports the whole detection engine (presidio,
# spaCy), so the scorer registers that subpackage bare and loads only detection._minilm.
#
# Cost: on a fresh WORK, under a minute of setup (downloads ~130 MB: qemu, arm64 packages,
# wheels; MiniLM's float32 export with torch), then about a minute per emulated CPU (the
# checks take 10-40 s each emulated, 0.2-0.6 s natively): 6.6 minutes in all for the default
# CPUS on two shared cores. Later runs reuse the qemu, userland, wheels and candidates
# (rebuilt when the built models or the versions change).
# Needs root (debootstrap), debootstrap, and the project's .venv with the build extra.
#
#     bench/emulated_aarch64.sh [WORK]        CPUS="max cortex-a72" bench/emulated_aarch64.sh
set -euo pipefail

WORK=$(realpath -m "${1:-/tmp/arm64}")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$REPO/.venv}
CPUS=${CPUS:-max neoverse-v1 neoverse-n2 neoverse-n1 cortex-a72}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT=$WORK/root
PY=$WORK/py
RESULTS=$WORK/results
started=$(date +%s)
say() { printf '[%4ds] %s\n' $(($(date +%s) - started)) "$*" >&2; }

for tool in debootstrap dpkg-deb apt-get; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install debootstrap" >&2; exit 1; }
done
rm -rf "$PY" # helpers: written below, on each run
mkdir -p "$WORK" "$PY" "$RESULTS"

# 0. qemu-user 10 from bookworm-backports, with a private apt state under WORK/apt.
if [[ -z ${QEMU:-} ]]; then
    QEMU=$WORK/qemu/usr/bin/qemu-aarch64
    if [[ ! -x $QEMU ]]; then
        say "qemu-user from bookworm-backports into $WORK/qemu"
        mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm-backports main" \
            >"$WORK/apt/sources.list"
        apt=(-o Dir::Etc::SourceList="$WORK/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o Dir::State::Lists="$WORK/apt/lists" -o Dir::Cache="$WORK/apt/cache"
             -o APT::Architectures=amd64 -o Debug::NoDropPrivs=true)
        apt-get "${apt[@]}" update >"$WORK/apt/log" 2>&1
        (cd "$WORK/apt" && rm -f qemu-user_*.deb &&
            apt-get "${apt[@]}" download qemu-user/bookworm-backports >>"$WORK/apt/log" 2>&1)
        rm -rf "$WORK/qemu"
        dpkg-deb -x "$WORK"/apt/qemu-user_*.deb "$WORK/qemu"
    fi
fi
"$QEMU" --version >/dev/null

# 1. The arm64 userland.
if [[ ! -x $ROOT/usr/bin/python3.11 ]]; then
    say "debootstrap arm64 bookworm (first stage) into $ROOT"
    debootstrap --arch=arm64 --foreign --variant=minbase --include=python3 bookworm "$ROOT" "$MIRROR" \
        >"$WORK/debootstrap.log" 2>&1
    # The first stage unpacks only the required set; unpack what --include fetched too.
    for deb in "$ROOT"/var/cache/apt/archives/*.deb; do
        dpkg-deb --fsys-tarfile "$deb" | tar -xf - --keep-directory-symlink -C "$ROOT"
    done
fi
# debootstrap links proc to the host's /proc; a real folder holds the emulated cpuinfo.
if [[ -L $ROOT/proc ]]; then rm "$ROOT/proc"; fi
mkdir -p "$ROOT/proc"
emulate() { # [ASM_LOG=FILE] emulate CPU PYTHON-ARGS...: the arm64 python under qemu -cpu CPU
    local cpu=$1; shift
    PYTHONPATH=$WORK/site:$REPO/sdk PYTHONDONTWRITEBYTECODE=1 \
        "$QEMU" -cpu "$cpu" ${ASM_LOG:+-d in_asm -D "$ASM_LOG"} -L "$ROOT" \
        "$ROOT/usr/bin/python3.11" "$@"
}

# 2. The aarch64 wheels of the host venv's versions.
versions=$("$VENV/bin/python" -c '
import importlib.metadata as m
print(" ".join(f"{p}=={m.version(p)}" for p in ("numpy", "onnxruntime", "tokenizers")))')
if [[ "$(cat "$WORK/site/.versions" 2>/dev/null)" != "$versions" ]]; then
    say "aarch64 wheels: $versions"
    tags=(--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --abi abi3
          --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64
          --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64)
    rm -rf "$WORK/wheels" "$WORK/site"
    # shellcheck disable=SC2086
    "$VENV/bin/pip" download --no-deps "${tags[@]}" -d "$WORK/wheels" $versions >"$WORK/pip.log" 2>&1
    "$VENV/bin/pip" install --no-deps --no-index "${tags[@]}" --target "$WORK/site" "$WORK"/wheels/*.whl \
        >>"$WORK/pip.log" 2>&1
    echo "$versions" >"$WORK/site/.versions"
fi

cat >"$PY/arm_ident.py" <<'EOF'
"""Write the /proc/cpuinfo Linux would show for the emulated CPU; print its identity.

Reads what the CPU reports to user space: MIDR_EL1 (mrs, which Linux and qemu-user emulate
at EL0) and the auxiliary vector's HWCAP bits; writes them as arch/arm64/kernel/cpuinfo.c does.
"""
import ctypes, json, mmap, os, sys

HWCAP = ("fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm "
         "jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc "
         "flagm ssbs sb paca pacg").split()
HWCAP2 = ("dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm "
          "svef32mm svef64mm svebf16 i8mm bf16 dgh rng bti mte ecv afp rpres mte3 sme "
          "smei16i64 smef64f64 smei8i32 smef16f32 smeb16f32 smef32f32 smefa64 wfxt ebf16 "
          "sveebf16 cssc rprfm sve2p1 sme2 sme2p1 smei16i32 smebi32i32 smeb16b16 smef16f16 "
          "mops hbc").split()
libc = ctypes.CDLL(None)
libc.getauxval.restype, libc.getauxval.argtypes = ctypes.c_ulong, [ctypes.c_ulong]
hwcap, hwcap2 = libc.getauxval(16), libc.getauxval(26)  # AT_HWCAP, AT_HWCAP2
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write((0xD5380000).to_bytes(4, "little") + (0xD65F03C0).to_bytes(4, "little"))  # mrs x0, midr_el1; ret
midr = ctypes.CFUNCTYPE(ctypes.c_uint64)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()
features = [n for i, n in enumerate(HWCAP) if hwcap >> i & 1]
features += [n for i, n in enumerate(HWCAP2) if hwcap2 >> i & 1]
block = (
    f"BogoMIPS\t: 50.00\nFeatures\t: {' '.join(features)}\n"
    f"CPU implementer\t: {midr >> 24 & 0xff:#04x}\nCPU architecture: 8\n"
    f"CPU variant\t: {midr >> 20 & 0xf:#x}\nCPU part\t: {midr >> 4 & 0xfff:#05x}\n"
    f"CPU revision\t: {midr & 0xf}\n\n"
)
with open(sys.argv[1], "w") as out:
    out.write("".join(f"processor\t: {i}\n{block}" for i in range(os.cpu_count() or 1)))
print(json.dumps({"midr": f"{midr:#010x}", "hwcap": f"{hwcap:#x}", "hwcap2": f"{hwcap2:#x}",
                  "features": features}))
EOF

cat >"$PY/arm_build.py" <<'EOF'
"""Host half: the models the emulated CPUs score, in WORK/candidates/{rampart,minilm}/.

The built int8 model of each (onnx/model_int8.onnx + manifest, digest checked, layout kept so
that it loads as in the SDK) and the other scheme built from the same float32 source: block-int8
Rampart from the dequantized 4-bit file, dynamic-s8 MiniLM from the float32 export. The host's
rebuild of the built scheme is compared with the built file. plan.json: files, references.
"""
import hashlib, json, shutil, sys, tempfile
from pathlib import Path

import numpy as np

from privacy_partition._cpu import cpu_class
from privacy_partition._int8 import BLOCK_INT8, DYNAMIC_S8, read_manifest
from privacy_partition._quantize import SOURCE_FILE, _dequantize

models, out = Path(sys.argv[1]), Path(sys.argv[2])
plan = {"host_cpu_class": cpu_class(), "models": {}}
for name in ("rampart", "minilm"):
    folder = models / name / "model"
    model = folder / "onnx" / "model_int8.onnx"
    manifest = read_manifest(name, model)  # ChecksumError if the digest does not match
    target = out / name
    (target / "onnx").mkdir(parents=True, exist_ok=True)
    shutil.copy2(folder / "tokenizer.json", target / "tokenizer.json")
    built = target / "onnx" / "model_int8.onnx"
    shutil.copy2(model, built)
    shutil.copy2(model.with_suffix(".json"), built.with_suffix(".json"))
    entry = {
        "reference": manifest.reference, "metric": manifest.metric, "minimum": manifest.minimum,
        "built": {"file": "onnx/model_int8.onnx", "scheme": manifest.scheme,
                  "sha256": manifest.sha256, "cpu_class": manifest.cpu_class,
                  "value": manifest.value},
        "files": {"onnx/model_int8.onnx": manifest.scheme},
    }
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        if name == "rampart":
            _dequantize(folder / SOURCE_FILE, fp32)
        else:
            from privacy_partition.detection._minilm_build import _export

            vectors = _export(folder, fp32)
            reference = np.asarray(manifest.reference, dtype=np.float32)
            entry["reference_vs_export_max_abs"] = float(np.abs(reference - vectors).max())
        for scheme in (DYNAMIC_S8, BLOCK_INT8):
            candidate = target / f"host-{scheme.name}.onnx"
            scheme.quantize(fp32, candidate)
            if scheme.name == manifest.scheme:
                digest = hashlib.sha256(candidate.read_bytes()).hexdigest()
                entry["built"]["rebuilt_identically"] = digest == manifest.sha256
                if digest == manifest.sha256:
                    candidate.unlink()
                    continue
            entry["files"][candidate.name] = scheme.name
    plan["models"][name] = entry
(out / "plan.json").write_text(json.dumps(plan))
EOF

cat >"$PY/arm_score.py" <<'EOF'
"""Emulated (or native) half: the CPU class and each candidate's check value, one JSON line.

    python score.py CANDIDATES_DIR       (privacy_partition's sdk/ on PYTHONPATH)

privacy_partition.detection's __init__ imports the detection engine (presidio, spaCy...), so
that subpackage is registered bare and only detection._minilm (numpy, onnxruntime,
tokenizers) loads. The built models load as in the SDK (verify_int8 / verify_minilm: digest,
then the check off the build's CPU class); the other candidates go through the same checkers.
"""
import json, platform, sys, time, types
from pathlib import Path

import privacy_partition

detection = types.ModuleType("privacy_partition.detection")
detection.__path__ = [str(Path(privacy_partition.__file__).with_name("detection"))]
sys.modules.setdefault("privacy_partition.detection", detection)

import onnxruntime
from privacy_partition import ModelError, _int8
from privacy_partition._cpu import _features, cpu_class
from privacy_partition._quantize import _checker, verify_int8
from privacy_partition.detection._minilm import checker, verify_minilm

work = Path(sys.argv[1])
plan = json.loads((work / "plan.json").read_text())
checks = {"rampart": _checker(work / "rampart"), "minilm": checker(work / "minilm")}
loaders = {"rampart": verify_int8, "minilm": verify_minilm}
result = {"machine": platform.machine(), "cpu_class": cpu_class(),
          "numpy_features": sorted(k for k, v in _features().items() if v),
          "onnxruntime": onnxruntime.__version__, "scores": []}
for model, entry in plan["models"].items():
    for file, scheme in entry["files"].items():
        path, started = work / model / file, time.perf_counter()
        row = {"model": model, "file": file, "scheme": scheme, "via": "checker"}
        value = None
        if file == entry["built"]["file"]:
            try:
                loaders[model](work / model)
                row["load"] = "loaded"
            except ModelError as error:
                row["load"] = f"refused: {error}"
            value = _int8._rechecked.get((str(path.resolve()), entry["built"]["sha256"]))
            row["via"] = "load check" if value is not None else "checker (build's class)"
        if value is None:
            value = checks[model](path, entry["reference"])
        row.update(value=round(value, 6), passes=value >= entry["minimum"],
                   seconds=round(time.perf_counter() - started, 1))
        result["scores"].append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
print(json.dumps(result))
EOF

cat >"$PY/arm_kernels.py" <<'EOF'
"""Count the int8 instructions qemu translated (-d in_asm log): which kernels ran.

Classified by encoding (qemu's disassembler names few of them; some CPU models log the
words byte-swapped, which the count of `ret` in either order detects). Counts are distinct
translated instructions (at least once executed), not executions.
"""
import collections, json, re, sys

CLASSES = (  # (mask, value, class)
    (0xBFE0FC00, 0x0E809400, "neon-dot"), (0xBFE0FC00, 0x2E809400, "neon-dot"),
    (0xBFC0F400, 0x0F80E000, "neon-dot"), (0xBFC0F400, 0x2F80E000, "neon-dot"),
    (0xBFE0FC00, 0x0E809C00, "neon-i8mm"), (0xBFC0F400, 0x0F00F000, "neon-i8mm"),
    (0xBFC0F400, 0x0F80F000, "neon-i8mm"), (0xFFE0FC00, 0x4E80A400, "neon-i8mm"),
    (0xFFE0FC00, 0x6E80A400, "neon-i8mm"), (0xFFE0FC00, 0x4E80AC00, "neon-i8mm"),
    (0xFFE0F800, 0x44800000, "sve-int8"), (0xFFE0F800, 0x44A00000, "sve-int8"),
    (0xFFE0FC00, 0x44807800, "sve-int8"), (0xFF20FC00, 0x45009800, "sve-int8"),
    (0xFEC00018, 0xA0800000, "sme-int8-mopa"), (0xFFFFF1FF, 0xD503417F, "sme-start"),
    (0xBFE0FC00, 0x0E20C000, "neon-widening"), (0xBFE0FC00, 0x2E20C000, "neon-widening"),
    (0xBF3FFC00, 0x0E206800, "neon-widening"), (0xBF3FFC00, 0x2E206800, "neon-widening"),
)
line = re.compile(r"^0x([0-9a-f]+):\s+([0-9a-f]{8})\s")
words = {}
with open(sys.argv[1], errors="replace") as log:
    for text in log:
        match = line.match(text)
        if match:
            words.setdefault(match.group(1), int(match.group(2), 16))
swap = lambda w: int.from_bytes(w.to_bytes(4, "little"), "big")
values = list(words.values())
if values.count(0xC0035FD6) > values.count(0xD65F03C0):  # `ret` logged byte-swapped
    values = [swap(w) for w in values]
counts = collections.Counter()
for word in values:
    name = next((n for mask, value, n in CLASSES if word & mask == value), None)
    if name:
        counts[name] += 1
print(json.dumps(dict(sorted(counts.items()))))
EOF

cat >"$PY/arm_report.py" <<'EOF'
"""The tables of WORK/results/*.json."""
import json, sys
from pathlib import Path

results, cpus = Path(sys.argv[1]), sys.argv[2].split()
plan = json.loads((Path(sys.argv[3]) / "plan.json").read_text())
versions = json.loads((results / "versions.json").read_text())
runs = {cpu: json.loads((results / f"{cpu}.json").read_text()) for cpu in ["host"] + cpus}
lines = [
    "| CPU | cpu_class | model | scheme | file | value | >= 0.99 | load (SDK verify) |",
    "|---|---|---|---|---|---|---|---|",
]
for run in runs.values():
    for row in run["scores"]:
        lines.append(
            f"| {run['cpu']} | {run['cpu_class']} | {row['model']} | {row['scheme']} | "
            f"{row['file']} | {row['value']:.4f} | {'yes' if row['passes'] else 'NO'} | "
            f"{row.get('load', '')} |"
        )
lines += [
    "",
    "| CPU | MIDR | HWCAP features | int8 instructions translated | emulated s |",
    "|---|---|---|---|---|",
]
for cpu in cpus:
    run = runs[cpu]
    kernels = ", ".join(f"{k} {v}" for k, v in run["kernels"].items()) or "none"
    lines.append(f"| {run['cpu']} | {run['midr']} | {' '.join(run['features'])} | {kernels} | "
                 f"{run['seconds']} |")
lines += [
    "",
    f"Versions: {json.dumps(versions)}",
    "Built models: " + "; ".join(
        f"{m} {e['built']['scheme']} (built on {e['built']['cpu_class']}, manifest value "
        f"{e['built']['value']}, host rebuild byte-identical: {e['built'].get('rebuilt_identically')})"
        for m, e in plan["models"].items()),
]
text = "\n".join(lines) + "\n"
(results / "results.md").write_text(text)
print(text)
EOF

# 3. The candidates, on the host (rebuilt when the built models or the versions change).
digests=$( (echo "$versions"; cat "$REPO"/local_model/{rampart,minilm}/model/onnx/model_int8.json) | sha256sum)
if [[ "$(cat "$WORK/candidates/.built" 2>/dev/null)" != "$digests" ]]; then
    say "candidates: built models copied, the other schemes built on the host"
    rm -rf "$WORK/candidates"
    mkdir -p "$WORK/candidates"
    PYTHONPATH=$REPO/sdk "$VENV/bin/python" "$PY/arm_build.py" "$REPO/local_model" "$WORK/candidates"
    echo "$digests" >"$WORK/candidates/.built"
fi

# 4. The host's own values, then each emulated CPU.
say "host (x86-64, native)"
PYTHONPATH=$REPO/sdk "$VENV/bin/python" "$PY/arm_score.py" "$WORK/candidates" 2>/dev/null \
    | "$VENV/bin/python" -c 'import json, sys; r = json.load(sys.stdin); r["cpu"] = "host x86-64 (native)"; print(json.dumps(r))' \
    >"$RESULTS/host.json"
"$VENV/bin/python" - "$RESULTS/versions.json" "$ROOT" "$QEMU" <<'EOF'
import json, platform, subprocess, sys
from pathlib import Path
site = Path(sys.argv[2]).parent / "site"
wheels = (site / ".versions").read_text().split()
qemu = subprocess.run([sys.argv[3], "--version"], capture_output=True, text=True).stdout.split("\n")[0]
debian = (Path(sys.argv[2]) / "etc/debian_version").read_text().strip()
python = sorted(p.name for p in (Path(sys.argv[2]) / "var/cache/apt/archives").glob("python3.11-minimal_*"))
Path(sys.argv[1]).write_text(json.dumps(
    {"qemu": qemu, "debian": debian, "python": python, "aarch64 wheels": wheels,
     "host python": platform.python_version()}))
EOF
for cpu in $CPUS; do
    say "emulated $cpu"
    t0=$(date +%s)
    ident=$(emulate "$cpu" "$PY/arm_ident.py" "$ROOT/proc/cpuinfo")
    ASM_LOG=$RESULTS/$cpu.asm emulate "$cpu" -X faulthandler "$PY/arm_score.py" "$WORK/candidates" \
        >"$RESULTS/$cpu.scores" 2>"$RESULTS/$cpu.stderr" \
        || { echo "emulated $cpu failed:" >&2; tail -20 "$RESULTS/$cpu.stderr" >&2; exit 1; }
    kernels=$("$VENV/bin/python" "$PY/arm_kernels.py" "$RESULTS/$cpu.asm")
    rm -f "$RESULTS/$cpu.asm"
    "$VENV/bin/python" - "$cpu" "$ident" "$kernels" "$(($(date +%s) - t0))" "$RESULTS/$cpu.scores" >"$RESULTS/$cpu.json" <<'EOF'
import json, sys
cpu, ident, kernels, seconds, scores = sys.argv[1:]
run = json.loads(open(scores).read().splitlines()[-1])
run.update(json.loads(ident), cpu=f"qemu -cpu {cpu}", kernels=json.loads(kernels), seconds=int(seconds))
print(json.dumps(run))
EOF
done

# 5. The table.
"$VENV/bin/python" "$PY/arm_report.py" "$RESULTS" "$CPUS" "$WORK/candidates"
say "done"
