import { ipv4Detector, ipv6Detector } from '../../../src/masking/detectors/ip-address.ts';
import { detectorTable } from './detector-table.ts';

detectorTable(ipv4Detector, [
  ['Connection from 203.0.113.42 was blocked', ['203.0.113.42']],
  ['client_ip=10.0.3.4:5432, X-Forwarded-For: 192.168.1.20', ['10.0.3.4', '192.168.1.20']],
  ['255.255.255.255 and 0.0.0.0', ['255.255.255.255', '0.0.0.0']],
  // versions and section numbers
  ['upgrade to version 1.2.3.4', []],
  ['Running v10.0.19041.1 with requests==2.31.0.1', []],
  ['bumped to 4.1.2.0; see section 1.2.3.4', []],
  // not addresses
  ['256.1.1.1, 999.1.2.3, 01.02.03.04', []],
  ['OID 1.3.6.1.4.1.311 and 1.2.3.4.5', []],
]);

detectorTable(ipv6Detector, [
  ['from 2001:db8::8a2e:370:7334 today', ['2001:db8::8a2e:370:7334']],
  ['full 2001:0db8:85a3:0000:0000:8a2e:0370:7334.', ['2001:0db8:85a3:0000:0000:8a2e:0370:7334']],
  ['listening on [fe80::1ff:fe23:4567:890a]:8443', ['fe80::1ff:fe23:4567:890a']],
  ['mapped ::ffff:192.0.2.128 and loopback ::1', ['::ffff:192.0.2.128', '::1']],
  ['at 2001:db8::1: retrying', ['2001:db8::1']],
  // look-alikes
  ['std::vector<int> and ns::Foo::bar() and Vec::new()', []],
  ['MAC 00:1A:2B:3C:4D:5E, time 12:30:45', []],
  ['2024-03-15T10:22:31Z', []],
  ['a::b and ::', []],
]);
