"""Operator tooling for the fleet of user machines on Fly (not part of the daemon).

- :mod:`.fly_api` the Fly Machines API client (also what the daemon's scaler resizes itself with);
- :mod:`.provision` a user's machine: create or reuse, start, stop, destroy, status;
- :mod:`.registry` the provisioning registry on the Supabase project (service key).

The commands are ``vyx provision`` and ``vyx machines`` (:mod:`vyx.cli.provision`).
"""
