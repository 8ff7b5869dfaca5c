#!/bin/bash
# SageMaker notebook instance lifecycle: on-start. Runs in a few seconds, well under the 5-minute limit:
# the environment lives on the persistent volume (built once by on-create.sh); only the kernel registration
# in the instance's home (which is not persistent) is redone.
# Deployed by deploy/aws (the CDK app), the instance carries its settings as tags: workbench:orthanc-url,
# workbench:orthanc-user, workbench:orthanc-secret (a Secrets Manager ARN) and workbench:storage-uri. They become
# the kernel's WORKBENCH_ORTHANC_URL, WORKBENCH_ORTHANC_USER and WORKBENCH_STORAGE_URI; the password is written
# from the secret to a 0600 file named in the workbench config (never into the kernel spec or a notebook).
set -euo pipefail
# (The three paths can be overridden only so that tests can run this script outside SageMaker.)
ENV_DIR=${WORKBENCH_ENV_DIR:-/home/ec2-user/SageMaker/envs/workbench}
CONFIG_DIR=${WORKBENCH_CONFIG_DIR:-/home/ec2-user/.config/workbench}
METADATA=${SAGEMAKER_RESOURCE_METADATA:-/opt/ml/metadata/resource-metadata.json}
KERNEL_ENV=()
if [ -r "$METADATA" ] && command -v aws >/dev/null; then
  ARN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ResourceArn"])' "$METADATA")
  TAGS=$(aws sagemaker list-tags --resource-arn "$ARN" --output json)
  tag() { python3 -c 'import json,sys; t={x["Key"]: x["Value"] for x in json.loads(sys.argv[1])["Tags"]}; print(t.get(sys.argv[2], ""))' "$TAGS" "$1"; }
  URL=$(tag workbench:orthanc-url); USER_NAME=$(tag workbench:orthanc-user)
  SECRET=$(tag workbench:orthanc-secret); STORAGE=$(tag workbench:storage-uri)
  [ -n "$URL" ] && KERNEL_ENV+=(--env WORKBENCH_ORTHANC_URL "$URL")
  [ -n "$USER_NAME" ] && KERNEL_ENV+=(--env WORKBENCH_ORTHANC_USER "$USER_NAME")
  [ -n "$STORAGE" ] && KERNEL_ENV+=(--env WORKBENCH_STORAGE_URI "$STORAGE")
  if [ -n "$SECRET" ] && [ -n "$USER_NAME" ]; then
    install -d -m 0700 -o ec2-user -g ec2-user "$CONFIG_DIR"
    (umask 077
     aws secretsmanager get-secret-value --secret-id "$SECRET" --query SecretString --output text \
       | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]], end="")' "$USER_NAME" \
       > "$CONFIG_DIR/orthanc-password.tmp"
     mv "$CONFIG_DIR/orthanc-password.tmp" "$CONFIG_DIR/orthanc-password"
     printf '[orthanc]\npassword_file = "%s"\n' "$CONFIG_DIR/orthanc-password" > "$CONFIG_DIR/config.toml.tmp"
     mv "$CONFIG_DIR/config.toml.tmp" "$CONFIG_DIR/config.toml")
    chown ec2-user:ec2-user "$CONFIG_DIR/orthanc-password" "$CONFIG_DIR/config.toml"
  fi
fi
if [ -x "$ENV_DIR/bin/python" ]; then
  sudo -u ec2-user -i "$ENV_DIR/bin/python" -m ipykernel install --user --name workbench \
    --display-name "Python (workbench)" "${KERNEL_ENV[@]}"
else
  echo "workbench environment not built yet; see /home/ec2-user/SageMaker/workbench-install.log"
fi
