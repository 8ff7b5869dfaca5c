#!/bin/bash
# SageMaker notebook instance lifecycle: on-create.
# Builds the `workbench` conda environment on the persistent volume (/home/ec2-user/SageMaker), once.
# The build takes longer than SageMaker's 5-minute lifecycle limit, so it runs in the background with nohup;
# on-start.sh only registers the kernel and returns in seconds.
# Configure: WORKBENCH_REPO (git URL of this project) and, for the archive, WORKBENCH_ORTHANC_URL/USER
# in the instance's environment (the password in AWS Secrets Manager or a 0600 file, never in notebooks).
set -euo pipefail
PERSIST=/home/ec2-user/SageMaker
REPO_DIR="$PERSIST/workbench"
ENV_DIR="$PERSIST/envs/workbench"
LOG="$PERSIST/workbench-install.log"

sudo -u ec2-user -i bash <<EOS
set -euo pipefail
if [ ! -d "$REPO_DIR" ] && [ -n "\${WORKBENCH_REPO:-}" ]; then git clone "\$WORKBENCH_REPO" "$REPO_DIR"; fi
if [ ! -x "$ENV_DIR/bin/python" ]; then
  nohup bash -c 'source /home/ec2-user/anaconda3/bin/activate && \
    conda env create -p "$ENV_DIR" -f "$REPO_DIR/environment.yml" && \
    "$ENV_DIR/bin/python" -m ipykernel install --user --name workbench --display-name "Python (workbench)"' \
    > "$LOG" 2>&1 &
fi
EOS
