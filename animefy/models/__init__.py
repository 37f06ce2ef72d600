"""Models: the catalog, the hub resolver, the registry every model loads through, and the engines that run them."""
