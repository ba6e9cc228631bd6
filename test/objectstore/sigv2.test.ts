import { assert, describe, it } from "@effect/vitest"
import { HttpRequest } from "@smithy/core/transport"
import type { AwsCredentialIdentity } from "@smithy/types"
import { canonicalizedResource, SigV2Signer, signature, stringToSign } from "../../src/objectstore/sigv2.ts"

// The example key pair and requests of the S3 developer guide ("Signing and authenticating REST requests").
const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
const request = (r: {
  method: string
  path: string
  hostname?: string
  query?: Record<string, string | null>
  headers?: Record<string, string>
}) => ({ hostname: "s3.amazonaws.com", query: {}, headers: {}, ...r })

describe("SigV2 StringToSign (AWS documentation examples)", () => {
  it("object GET, path style", () => {
    const toSign = stringToSign(
      request({
        method: "GET",
        path: "/johnsmith/photos/puppy.jpg",
        headers: { Date: "Tue, 27 Mar 2007 19:36:42 +0000" }
      })
    )
    assert.strictEqual(toSign, "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/johnsmith/photos/puppy.jpg")
    assert.strictEqual(signature(secret, toSign), "bWq2s1WEIj+Ydj0vQ697zp+IXMU=")
  })

  it("object GET, virtual-host style adds the bucket to the resource", () => {
    const toSign = stringToSign(
      request({
        method: "GET",
        hostname: "awsexamplebucket1.us-west-1.s3.amazonaws.com",
        path: "/photos/puppy.jpg",
        headers: { date: "Tue, 27 Mar 2007 19:36:42 +0000" }
      }),
      "awsexamplebucket1"
    )
    assert.strictEqual(signature(secret, toSign), "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=")
  })

  it("object PUT signs the content type", () => {
    const toSign = stringToSign(
      request({
        method: "PUT",
        path: "/johnsmith/photos/puppy.jpg",
        headers: { "Content-Type": "image/jpeg", "Content-Length": "94328", Date: "Tue, 27 Mar 2007 21:15:45 +0000" }
      })
    )
    assert.strictEqual(signature(secret, toSign), "MyyxeRY7whkBe+bq8fHCL/2kKUg=")
  })

  it("sub-resource ?acl is signed", () => {
    const toSign = stringToSign(
      request({
        method: "GET",
        path: "/johnsmith/",
        query: { acl: null },
        headers: { Date: "Tue, 27 Mar 2007 19:44:46 +0000" }
      })
    )
    assert.strictEqual(toSign, "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/johnsmith/?acl")
    assert.strictEqual(signature(secret, toSign), "c2WLPFtWHVgbEmeEG93a4cG37dM=")
  })

  it("amz headers: lowercased, sorted, repeated values joined; Content-MD5 signed", () => {
    const toSign = stringToSign(
      request({
        method: "PUT",
        hostname: "static.johnsmith.net",
        path: "/db-backup.dat.gz",
        headers: {
          Date: "Tue, 27 Mar 2007 21:06:08 +0000",
          "x-amz-acl": "public-read",
          "content-type": "application/x-download",
          "Content-MD5": "4gJE4saaMU4BqNR0kLY+lw==",
          "X-Amz-Meta-ReviewedBy": "joe@johnsmith.net,jane@johnsmith.net",
          "X-Amz-Meta-FileChecksum": "0x02661779",
          "X-Amz-Meta-ChecksumAlgorithm": "crc32",
          "Content-Disposition": "attachment; filename=database.dat",
          "Content-Encoding": "gzip"
        }
      }),
      "static.johnsmith.net"
    )
    assert.strictEqual(
      toSign,
      "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n" +
        "x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\n" +
        "x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz"
    )
    assert.strictEqual(signature(secret, toSign), "ilyl83RwaSoYIEdixDQcA4OnAnc=")
  })

  it("multipart sub-resources are signed sorted with raw values; list parameters are not", () => {
    assert.strictEqual(
      canonicalizedResource(
        request({
          method: "PUT",
          path: "/b/k%20x",
          query: { uploadId: "2~abc+/=", partNumber: "3", "x-id": "UploadPart" }
        })
      ),
      "/b/k%20x?partNumber=3&uploadId=2~abc+/="
    )
    assert.strictEqual(
      canonicalizedResource(request({ method: "POST", path: "/b/k", query: { uploads: "" } })),
      "/b/k?uploads"
    )
    assert.strictEqual(
      canonicalizedResource(
        request({ method: "GET", path: "/b", query: { "list-type": "2", prefix: "a/", "continuation-token": "t" } })
      ),
      "/b"
    )
  })
})

describe("SigV2Signer", () => {
  const now = () => new Date("2007-03-27T19:36:42Z")

  it("signs with the identity, drops v4 headers and sends the session token as a signed amz header", async () => {
    const signer = new SigV2Signer({ bucket: "johnsmith", forcePathStyle: true, now })
    const signed = await signer.sign(
      new HttpRequest({
        method: "GET",
        hostname: "127.0.0.1",
        path: "/johnsmith/photos/puppy.jpg",
        headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD", "x-amz-date": "20070327T193642Z" }
      }),
      { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: secret, sessionToken: "token-1" } as AwsCredentialIdentity
    )
    assert.instanceOf(signed, HttpRequest)
    assert.strictEqual(signed.headers.date, "Tue, 27 Mar 2007 19:36:42 GMT")
    assert.strictEqual(signed.headers["x-amz-security-token"], "token-1")
    assert.isUndefined(signed.headers["x-amz-content-sha256"])
    assert.isUndefined(signed.headers["x-amz-date"])
    const expected = signature(
      secret,
      "GET\n\n\nTue, 27 Mar 2007 19:36:42 GMT\nx-amz-security-token:token-1\n/johnsmith/photos/puppy.jpg"
    )
    assert.strictEqual(signed.headers.authorization, `AWS AKIAIOSFODNN7EXAMPLE:${expected}`)
  })

  it("recognises virtual-host requests unless path style is forced", async () => {
    const req = () =>
      new HttpRequest({ method: "GET", hostname: "johnsmith.s3.amazonaws.com", path: "/photos/puppy.jpg" })
    const id: AwsCredentialIdentity = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: secret }
    const virtual = await new SigV2Signer({ bucket: "johnsmith", now }).sign(req(), id)
    const sig = signature(secret, "GET\n\n\nTue, 27 Mar 2007 19:36:42 GMT\n/johnsmith/photos/puppy.jpg")
    assert.strictEqual(virtual.headers.authorization, `AWS AKIAIOSFODNN7EXAMPLE:${sig}`)
    const pathStyle = await new SigV2Signer({ bucket: "johnsmith", forcePathStyle: true, now }).sign(req(), id)
    assert.notStrictEqual(pathStyle.headers.authorization, virtual.headers.authorization)
  })

  it("refuses an identity without keys", async () => {
    const signer = new SigV2Signer({ bucket: "b", now })
    let message = ""
    await signer
      .sign(new HttpRequest({ method: "GET", hostname: "h", path: "/" }), { token: "t" } as never)
      .catch((e: Error) => {
        message = e.message
      })
    assert.match(message, /needs AWS access key credentials/)
  })
})
