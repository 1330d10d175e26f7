"""Attribution: AppsFlyer postbacks (proof, parsing, deduplicated storage, the batches the revenue
pipeline takes) and the /track deep-link log."""
