"""AgentFlow on AWS as a CDK app: one image, two roles (web, worker), one stack."""
