//! CloudFormation custom-resource protocol (in progress).
