/**
 * An IP address as the host part of a URL: IPv6 addresses in brackets (RFC 3986), IPv4 addresses as they are.
 *
 * @since 0.2.0
 */
export const urlHost = (ip: string): string => (ip.includes(":") ? `[${ip}]` : ip)
