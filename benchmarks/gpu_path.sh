#!/bin/bash
# The GPU path (issue 29), as one prepared run on a lent GPU machine (the device tool; nothing can be fetched
# there): decode -> pose -> RGB -> model with `classify --device cuda` on the generated 2-minute 1920x1080 video,
# against its decode-only floor (benchmarks/long_video.py), lstm and tcn. Figures go to $OUT (or /tmp).
#
# Here, once: the packages that machine lacks, as wheels for its Python 3.12 (.whl/ is kept out of git):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       -d .whl 'av>=14,<19' 'platformdirs>=3,<5'
# (about 37 MB: av 18.1.1 and platformdirs). Then one device call: command "bash benchmarks/gpu_path.sh",
# carry [".whl"], timeout_s 540 (the video is encoded there first, ~1-2 min).
#
# onnxruntime-gpu's wheel (243 MB for 1.31.1) is more than the device tool carries (64 MB), so the pose backend
# runs in the machine's own onnxruntime on its CPU cores (classify falls back to the CPU provider and says
# nothing); ResNet-18 and the model over time run on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1
out="${OUT:-/tmp}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python3 -c "import onnxruntime, torch; print('onnxruntime', onnxruntime.__version__, onnxruntime.get_available_providers(), '| torch', torch.__version__, torch.cuda.is_available())" | tee -a "$out/gpu.txt"
python3 benchmarks/long_video.py --device cuda --models lstm,tcn --repeat 1 2>&1 | tee "$out/long_video_cuda.txt"
