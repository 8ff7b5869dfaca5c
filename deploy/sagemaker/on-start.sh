#!/bin/bash
# SageMaker notebook instance lifecycle: on-start. Runs in a few seconds, well under the 5-minute limit:
# the environment lives on the persistent volume (built once by on-create.sh); only the kernel registration
# in the instance's home (which is not persistent) is redone.
# Deployed by deploy/aws (the CDK app), the instance carries its settings as tags: workbench:orthanc-url,
# workbench:orthanc-user, workbench:orthanc-secret (a Secrets Manager ARN) and workbench:storage-uri. They become
# the kernel's WORKBENCH_ORTHANC_URL, WORKBENCH_ORTHANC_USER and WORKBENCH_STORAGE_URI; the password is written
# from the secret to a 0600 file named in the workbench config (never into the kernel spec or a notebook).
# With an Orthanc URL tag, the config also holds the URL and user, and the archive's viewer is served through
# JupyterLab (workbench.jupyter.proxy): jupyter-server-proxy and this repository (without its dependencies)
# are installed into the Jupyter server's own environment, the extension enabled and the server restarted,
# as AWS's lifecycle samples do. A failure there is logged and does not stop the instance from starting.
set -euo pipefail
# (The paths can be overridden only so that tests can run this script outside SageMaker.)
ENV_DIR=${WORKBENCH_ENV_DIR:-/home/ec2-user/SageMaker/envs/workbench}
CONFIG_DIR=${WORKBENCH_CONFIG_DIR:-/home/ec2-user/.config/workbench}
METADATA=${SAGEMAKER_RESOURCE_METADATA:-/opt/ml/metadata/resource-metadata.json}
SERVER_ENV=${WORKBENCH_SERVER_ENV:-/home/ec2-user/anaconda3/envs/JupyterSystemEnv}
REPO_DIR=${WORKBENCH_REPO_DIR:-/home/ec2-user/SageMaker/workbench}
KERNEL_ENV=()
URL=""
if [ -r "$METADATA" ] && command -v aws >/dev/null; then
  ARN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ResourceArn"])' "$METADATA")
  TAGS=$(aws sagemaker list-tags --resource-arn "$ARN" --output json)
  tag() { python3 -c 'import json,sys; t={x["Key"]: x["Value"] for x in json.loads(sys.argv[1])["Tags"]}; print(t.get(sys.argv[2], ""))' "$TAGS" "$1"; }
  URL=$(tag workbench:orthanc-url); USER_NAME=$(tag workbench:orthanc-user)
  SECRET=$(tag workbench:orthanc-secret); STORAGE=$(tag workbench:storage-uri)
  [ -n "$URL" ] && KERNEL_ENV+=(--env WORKBENCH_ORTHANC_URL "$URL")
  [ -n "$USER_NAME" ] && KERNEL_ENV+=(--env WORKBENCH_ORTHANC_USER "$USER_NAME")
  [ -n "$STORAGE" ] && KERNEL_ENV+=(--env WORKBENCH_STORAGE_URI "$STORAGE")
  PASSWORD_FILE=""
  if [ -n "$SECRET" ] && [ -n "$USER_NAME" ]; then PASSWORD_FILE="$CONFIG_DIR/orthanc-password"; fi
  if [ -n "$URL" ] || [ -n "$PASSWORD_FILE" ]; then
    install -d -m 0700 -o ec2-user -g ec2-user "$CONFIG_DIR"
    (umask 077
     if [ -n "$PASSWORD_FILE" ]; then
       aws secretsmanager get-secret-value --secret-id "$SECRET" --query SecretString --output text \
         | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]], end="")' "$USER_NAME" \
         > "$PASSWORD_FILE.tmp"
       mv "$PASSWORD_FILE.tmp" "$PASSWORD_FILE"
       chown ec2-user:ec2-user "$PASSWORD_FILE"
     fi
     # [orthanc] url, username, password_file (only those given); JSON string quoting is valid TOML
     python3 -c 'import json,sys; keys=("url","username","password_file"); print("[orthanc]"); [print(f"{k} = {json.dumps(v, ensure_ascii=False)}") for k,v in zip(keys,sys.argv[1:]) if v]' \
       "$URL" "$USER_NAME" "$PASSWORD_FILE" > "$CONFIG_DIR/config.toml.tmp"
     mv "$CONFIG_DIR/config.toml.tmp" "$CONFIG_DIR/config.toml")
    chown ec2-user:ec2-user "$CONFIG_DIR/config.toml"
  fi
fi
if [ -x "$ENV_DIR/bin/python" ]; then
  sudo -u ec2-user -i "$ENV_DIR/bin/python" -m ipykernel install --user --name workbench \
    --display-name "Python (workbench)" "${KERNEL_ENV[@]}"
else
  echo "workbench environment not built yet; see /home/ec2-user/SageMaker/workbench-install.log"
fi

# The archive's viewer through JupyterLab: {base_url}workbench-orthanc/ (workbench.jupyter.proxy).
viewer_setup() {
  local python="$SERVER_ENV/bin/python"
  if [ ! -x "$python" ] || [ ! -f "$REPO_DIR/pyproject.toml" ]; then
    echo "workbench viewer: no Jupyter server environment at $SERVER_ENV or no checkout at $REPO_DIR"; return 1
  fi
  if ! "$python" -c 'import sys, jupyter_server; sys.exit(sys.version_info < (3, 11))'; then
    echo "workbench viewer: the Jupyter server environment needs Python >= 3.11 and jupyter_server"; return 1
  fi
  # only what the proxy imports (workbench.config: platformdirs, tomli-w); re-installed at every start so it
  # follows the checkout
  sudo -u ec2-user -i "$python" -m pip install --quiet "jupyter-server-proxy>=4.1" "platformdirs>=4" \
    "tomli-w>=1.0" || return 1
  sudo -u ec2-user -i "$python" -m pip install --quiet --no-deps "$REPO_DIR" || return 1
  sudo -u ec2-user -i "$SERVER_ENV/bin/jupyter" server extension enable --sys-prefix workbench.jupyter.proxy \
    || return 1
}
if [ -n "$URL" ]; then
  if viewer_setup; then
    systemctl restart jupyter-server
  else
    echo "workbench viewer: not set up; notebooks work, the study browser's viewer link does not"
  fi
fi
