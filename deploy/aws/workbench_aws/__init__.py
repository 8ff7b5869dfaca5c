"""The workbench's AWS deployment (the seed's architecture) as CDK constructs.

``settings`` reads and checks the parameters, ``archive`` builds Orthanc on Fargate with its RDS index and S3
storage, ``research`` the SageMaker notebook and the Bedrock roles, ``checks`` applies cdk-nag's rule packs
with the reasoned suppressions, ``app`` puts them together.
"""
