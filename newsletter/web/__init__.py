"""HTTP faces: the live preview, the unsubscribe endpoint and the static archive."""
