#!/bin/bash
# SageMaker notebook instance lifecycle: on-start. Runs in a few seconds, well under the 5-minute limit:
# the environment lives on the persistent volume (built once by on-create.sh); only the kernel registration
# in the instance's home (which is not persistent) is redone.
set -euo pipefail
ENV_DIR=/home/ec2-user/SageMaker/envs/workbench
if [ -x "$ENV_DIR/bin/python" ]; then
  sudo -u ec2-user -i "$ENV_DIR/bin/python" -m ipykernel install --user --name workbench \
    --display-name "Python (workbench)"
else
  echo "workbench environment not built yet; see /home/ec2-user/SageMaker/workbench-install.log"
fi
