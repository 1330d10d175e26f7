"""Transport: parse the request, call one domain function, shape the response."""
