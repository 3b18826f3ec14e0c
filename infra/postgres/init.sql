-- One database per service (ARCHITECTURE.md: a service never reads another's tables).
CREATE DATABASE identity;
CREATE DATABASE incidents;
CREATE DATABASE devices;
CREATE DATABASE media_consent;
